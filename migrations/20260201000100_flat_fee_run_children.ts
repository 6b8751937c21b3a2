import type { Knex } from 'knex';

// What a run realizes (SPEC §2): credit allocations, the invoiced usage, the payment, detailed lines.

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

function common(t: Knex.CreateTableBuilder): void {
  t.specificType('id', 'char(26)').primary();
  t.text('namespace').notNullable();
  t.specificType('run_id', 'char(26)').notNullable().references('id').inTable('charge_flat_fee_runs').onDelete('CASCADE');
  t.timestamp('created_at', { useTz: true }).notNullable();
  t.timestamp('updated_at', { useTz: true }).notNullable();
  t.timestamp('deleted_at', { useTz: true }).nullable();
}

function servicePeriod(t: Knex.CreateTableBuilder): void {
  t.timestamp('service_period_from', { useTz: true }).notNullable();
  t.timestamp('service_period_to', { useTz: true }).notNullable();
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('charge_flat_fee_run_credit_allocations', (t) => {
    common(t);
    servicePeriod(t);
    t.text('transaction_group_id').notNullable();
    t.decimal('amount', null).notNullable();
    t.specificType('line_id', 'char(26)').nullable();
    t.text('type').notNullable();
    t.specificType('corrects_realization_id', 'char(26)').nullable().references('id').inTable('charge_flat_fee_run_credit_allocations');
    t.integer('sort_hint').notNullable();
    t.jsonb('annotations').nullable();
    t.index(['run_id']);
  });

  await knex.schema.createTable('charge_flat_fee_run_invoiced_usages', (t) => {
    common(t);
    t.unique(['run_id']);
    servicePeriod(t);
    t.text('ledger_transaction_group_id').nullable();
    for (const column of TOTALS) t.decimal(column, null).notNullable();
  });

  await knex.schema.createTable('charge_flat_fee_run_payments', (t) => {
    common(t);
    t.unique(['run_id']);
    t.specificType('line_id', 'char(26)').notNullable().unique();
    t.specificType('invoice_id', 'char(26)').notNullable();
    servicePeriod(t);
    t.text('status').notNullable();
    t.decimal('amount', null).notNullable();
    t.text('authorized_transaction_group_id').notNullable();
    t.timestamp('authorized_at', { useTz: true }).notNullable();
    t.text('settled_transaction_group_id').nullable();
    t.timestamp('settled_at', { useTz: true }).nullable();
  });

  await knex.schema.createTable('charge_flat_fee_run_detailed_lines', (t) => {
    common(t);
    t.text('child_unique_reference_id').notNullable();
    t.text('name').notNullable();
    t.text('description').nullable();
    t.decimal('quantity', null).notNullable();
    t.decimal('per_unit_amount', null).notNullable();
    t.text('category').notNullable();
    t.text('payment_term').notNullable();
    t.timestamp('service_period_start', { useTz: true }).notNullable();
    t.timestamp('service_period_end', { useTz: true }).notNullable();
    t.integer('index').nullable();
    for (const column of TOTALS) t.decimal(column, null).notNullable();
    t.index(['run_id']);
  });
  await knex.raw(
    `CREATE UNIQUE INDEX charge_flat_fee_run_detailed_lines_child_ref ON charge_flat_fee_run_detailed_lines
     (namespace, run_id, child_unique_reference_id) WHERE deleted_at IS NULL`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('charge_flat_fee_run_detailed_lines');
  await knex.schema.dropTable('charge_flat_fee_run_payments');
  await knex.schema.dropTable('charge_flat_fee_run_invoiced_usages');
  await knex.schema.dropTable('charge_flat_fee_run_credit_allocations');
}
