import type { Knex } from 'knex';

// Deleting a run checks charge_flat_fees.current_realization_run_id (ON DELETE SET NULL); without an
// index that check scans every charge once per deleted run.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('charge_flat_fees', (t) => {
    t.index(['current_realization_run_id'], 'charge_flat_fees_current_realization_run_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('charge_flat_fees', (t) => {
    t.dropIndex(['current_realization_run_id'], 'charge_flat_fees_current_realization_run_id');
  });
}
