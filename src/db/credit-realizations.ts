import { Knex } from 'knex';
import { CreditRealization } from '../domain/credit';
import { fromDbRealization, toDbRealization } from './mapping';
import { T } from './tables';

export async function listRealizationsOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<CreditRealization[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.realizations)
    .where({ namespace })
    .whereIn('run_id', runIds)
    .orderBy([{ column: 'created_at' }, { column: 'sort_hint' }, { column: 'id' }]);
  return rows.map(fromDbRealization);
}

export async function insertRealizations(trx: Knex.Transaction, realizations: CreditRealization[]): Promise<void> {
  if (realizations.length > 0) await trx(T.realizations).insert(realizations.map(toDbRealization));
}
