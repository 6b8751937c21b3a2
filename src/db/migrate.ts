import { Knex } from 'knex';

/** The migrations that make the legacy shape of SPEC §7, for seeding old data in upgrade tests. */
export const LEGACY_BASELINE = ['20260101000000_legacy_flat_fees.ts'];

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}

export async function migrateLegacyBaseline(knex: Knex): Promise<string[]> {
  const [, pending] = (await knex.migrate.list()) as [unknown[], Array<{ file: string }>];
  const applied: string[] = [];
  for (const migration of pending) {
    if (!LEGACY_BASELINE.includes(migration.file)) break;
    await knex.migrate.up({ name: migration.file });
    applied.push(migration.file);
  }
  return applied;
}
