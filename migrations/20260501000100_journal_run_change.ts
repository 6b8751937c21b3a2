import type { Knex } from 'knex';

// A re-proration moves a charge to a new current run: its journal entry names the run it left and
// the credits that run no longer counts, so the timeline shows the change without a join.

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE flat_fee_job_journal ADD COLUMN run_change jsonb NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE flat_fee_job_journal DROP COLUMN run_change`);
}
