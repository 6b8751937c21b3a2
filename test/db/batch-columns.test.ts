import { expect } from 'chai';
import { REALIZATION_COLUMNS } from '../../src/db/batch-allocate';
import { PAYMENT_COLUMNS } from '../../src/db/batch-payment';
import { PROVISION_COLUMNS } from '../../src/db/batch-provision';
import { TypedColumn } from '../../src/db/batch-sql';
import { LINE_COLUMNS, USAGE_COLUMNS } from '../../src/db/batch-usage';
import { T } from '../../src/db/tables';
import { useTestDatabase } from '../helpers/db';

// The set-based inserts cast each column's array to a type written in the code: a type that drifted
// from the migrated schema would convert values on the way in (or fail only on an unusual one).

const INSERTED: Record<string, TypedColumn[]> = {
  ...PROVISION_COLUMNS,
  [T.realizations]: REALIZATION_COLUMNS,
  [T.payments]: PAYMENT_COLUMNS,
  [T.usages]: USAGE_COLUMNS,
  [T.detailedLines]: LINE_COLUMNS,
};

describe('set-based column lists match the migrated schema', () => {
  const db = useTestDatabase('batch_columns');

  for (const [table, columns] of Object.entries(INSERTED)) {
    it(`${table}: every column, each cast to its column's type`, async () => {
      const { rows } = await db().knex.raw(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [table],
      );
      const casts = await Promise.all(columns.map(async ([name, type]) => [name, (await db().knex.raw(`SELECT format_type(pg_typeof(NULL::${type})::oid, NULL) AS t`)).rows[0].t]));
      const schema = await Promise.all((rows as Array<{ name: string; type: string }>).map(async (r) => [r.name, (await db().knex.raw(`SELECT format_type(pg_typeof(NULL::${r.type})::oid, NULL) AS t`)).rows[0].t]));
      expect(Object.fromEntries(casts)).to.deep.equal(Object.fromEntries(schema));
    });
  }
});
