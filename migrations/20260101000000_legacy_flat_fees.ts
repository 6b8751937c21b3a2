import type { Knex } from 'knex';

// The legacy shape of SPEC §7, exactly as deployments before the run model have it: realizations
// hang off the charge. Later migrations add the run model beside it; rows move only through the
// migrate-legacy-flat-fees job.

function totals(t: Knex.CreateTableBuilder): void {
  for (const column of [
    'amount',
    'charges_total',
    'discounts_total',
    'taxes_inclusive_total',
    'taxes_exclusive_total',
    'taxes_total',
    'credits_total',
    'total',
  ]) {
    t.decimal(column, null).notNullable();
  }
}

function base(t: Knex.CreateTableBuilder): void {
  t.specificType('id', 'char(26)').primary();
  t.text('namespace').notNullable();
}

function times(t: Knex.CreateTableBuilder): void {
  t.timestamp('created_at', { useTz: true }).notNullable();
  t.timestamp('updated_at', { useTz: true }).notNullable();
  t.timestamp('deleted_at', { useTz: true }).nullable();
}

function chargeRef(t: Knex.CreateTableBuilder, unique = false): void {
  const column = t.specificType('charge_id', 'char(26)').notNullable();
  if (unique) column.unique();
  column.references('id').inTable('charge_flat_fees').onDelete('CASCADE');
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('charge_flat_fees', (t) => {
    base(t);
    t.text('customer_id').notNullable();
    t.string('currency', 3).notNullable();
    t.text('name').notNullable();
    t.text('description').nullable();
    t.text('unique_reference_id').nullable();
    t.text('feature_key').nullable();
    t.jsonb('metadata').nullable();
    times(t);
    t.text('status').notNullable();
    t.text('status_detailed').notNullable();
    t.text('settlement_mode').notNullable();
    t.text('payment_term').notNullable();
    t.timestamp('invoice_at', { useTz: true }).notNullable();
    t.timestamp('advance_after', { useTz: true }).nullable();
    for (const p of ['service_period', 'full_service_period', 'billing_period']) {
      t.timestamp(`${p}_from`, { useTz: true }).notNullable();
      t.timestamp(`${p}_to`, { useTz: true }).notNullable();
    }
    t.text('pro_rating').notNullable();
    t.decimal('amount_before_proration', null).notNullable();
    t.decimal('amount_after_proration', null).notNullable();
    t.index(['namespace', 'customer_id']);
  });
  await knex.raw(
    `CREATE UNIQUE INDEX charge_flat_fees_unique_reference ON charge_flat_fees (namespace, unique_reference_id)
     WHERE deleted_at IS NULL AND unique_reference_id IS NOT NULL`,
  );

  await knex.schema.createTable('charge_flat_fee_credit_allocations', (t) => {
    base(t);
    chargeRef(t);
    times(t);
    t.timestamp('service_period_from', { useTz: true }).notNullable();
    t.timestamp('service_period_to', { useTz: true }).notNullable();
    t.text('transaction_group_id').notNullable();
    t.decimal('amount', null).notNullable();
    t.specificType('line_id', 'char(26)').nullable();
    t.text('type').notNullable();
    t.specificType('corrects_realization_id', 'char(26)').nullable().references('id').inTable('charge_flat_fee_credit_allocations');
    t.integer('sort_hint').notNullable();
    t.jsonb('annotations').nullable();
    t.index(['charge_id']);
  });

  await knex.schema.createTable('charge_flat_fee_detailed_line', (t) => {
    base(t);
    chargeRef(t);
    times(t);
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
    totals(t);
  });
  await knex.raw(
    `CREATE UNIQUE INDEX charge_flat_fee_detailed_line_child_ref ON charge_flat_fee_detailed_line
     (namespace, charge_id, child_unique_reference_id) WHERE deleted_at IS NULL`,
  );

  await knex.schema.createTable('charge_flat_fee_invoiced_usages', (t) => {
    base(t);
    chargeRef(t, true);
    times(t);
    t.timestamp('service_period_from', { useTz: true }).notNullable();
    t.timestamp('service_period_to', { useTz: true }).notNullable();
    t.text('ledger_transaction_group_id').nullable();
    t.specificType('line_id', 'char(26)').nullable();
    t.boolean('mutable').notNullable();
    totals(t);
  });

  await knex.schema.createTable('charge_flat_fee_payments', (t) => {
    base(t);
    chargeRef(t, true);
    t.specificType('line_id', 'char(26)').notNullable().unique();
    t.specificType('invoice_id', 'char(26)').notNullable();
    times(t);
    t.timestamp('service_period_from', { useTz: true }).notNullable();
    t.timestamp('service_period_to', { useTz: true }).notNullable();
    t.text('status').notNullable();
    t.decimal('amount', null).notNullable();
    t.text('authorized_transaction_group_id').notNullable();
    t.timestamp('authorized_at', { useTz: true }).notNullable();
    t.text('settled_transaction_group_id').nullable();
    t.timestamp('settled_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('charge_flat_fee_payments');
  await knex.schema.dropTable('charge_flat_fee_invoiced_usages');
  await knex.schema.dropTable('charge_flat_fee_detailed_line');
  await knex.schema.dropTable('charge_flat_fee_credit_allocations');
  await knex.schema.dropTable('charge_flat_fees');
}
