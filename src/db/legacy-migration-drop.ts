import { Knex } from 'knex';
import { DomainError } from '../domain/errors';
import { mismatchError } from '../domain/legacy-migration';
import { checkAllMigrated, countUnmigratedCharges, LEGACY_CHILD_TABLES, legacyTablesPresent } from './legacy-migration-verify';

/**
 * Drops the legacy child tables once nothing needs them (SPEC §7 leaves them in place, read-only,
 * until an operator says so). Refuses while any charge is still unmigrated or a migrated row has no
 * matching copy; the legacy columns of charge_flat_fees stay, they are the charges themselves.
 */
export async function dropLegacyTables(knex: Knex): Promise<{ dropped: string[] }> {
  if (!(await legacyTablesPresent(knex))) return { dropped: [] };
  return knex.transaction(async (trx) => {
    // Waits for a migration batch in flight, and keeps the next one out until the tables are gone.
    await trx.raw(`LOCK TABLE ${LEGACY_CHILD_TABLES.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const remaining = await countUnmigratedCharges(trx, { namespace: null });
    if (remaining > 0) {
      throw new DomainError('charge_not_migrated', `refusing to drop the legacy tables: ${remaining} legacy charges are not migrated yet; run migrate-legacy first`);
    }
    const checked = await checkAllMigrated(trx, { namespace: null });
    if (!checked.ok) throw mismatchError('refusing to drop the legacy tables', checked);
    await trx.raw(`DROP TABLE ${LEGACY_CHILD_TABLES.join(', ')}`);
    return { dropped: LEGACY_CHILD_TABLES };
  });
}
