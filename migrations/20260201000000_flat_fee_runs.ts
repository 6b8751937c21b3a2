import type { Knex } from 'knex';

// The run model (SPEC §2): a charge points at its current realization run. Both columns added to
// the legacy charge table are nullable or defaulted, so this succeeds on a populated database.

const TOTALS = [
  'amount',
  'charges_total',
  'discounts_total',
  'taxes_inclusive_total',
  'taxes_exclusive_total',
  'taxes_total',
  'credits_total',
  'total',
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('charge_flat_fee_runs', (t) => {
    t.specificType('id', 'char(26)').primary();
    t.text('namespace').notNullable();
    t.specificType('charge_id', 'char(26)').notNullable().references('id').inTable('charge_flat_fees').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.timestamp('deleted_at', { useTz: true }).nullable();
    t.text('type').notNullable();
    t.text('initial_type').notNullable();
    t.timestamp('service_period_from', { useTz: true }).notNullable();
    t.timestamp('service_period_to', { useTz: true }).notNullable();
    t.decimal('amount_after_proration', null).notNullable();
    t.specificType('line_id', 'char(26)').nullable().unique();
    t.specificType('invoice_id', 'char(26)').nullable();
    t.boolean('no_fiat_transaction_required').notNullable();
    for (const column of TOTALS) t.decimal(column, null).notNullable().defaultTo(0);
    t.index(['charge_id']);
  });
  await knex.schema.alterTable('charge_flat_fees', (t) => {
    t.specificType('current_realization_run_id', 'char(26)')
      .nullable()
      .references('id')
      .inTable('charge_flat_fee_runs')
      .onDelete('SET NULL');
    // Rows that exist before this migration keep their realizations in the legacy tables until the
    // migration job moves them; charges written by the run-model code set it to true.
    t.boolean('migrated_to_runs').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('charge_flat_fees', (t) => {
    t.dropColumn('migrated_to_runs');
    t.dropColumn('current_realization_run_id');
  });
  await knex.schema.dropTable('charge_flat_fee_runs');
}
