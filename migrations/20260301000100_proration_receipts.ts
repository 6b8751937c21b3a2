import type { Knex } from 'knex';

// A proration receipt per charge: the inputs and every step of the amount create-charge computed,
// so "why 51.72 and not 51.73?" is answered from stored data and can be recomputed (`explain`).
// A side table, so the charge table (and its legacy rows) is left untouched.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('charge_flat_fee_proration_receipts', (t) => {
    t.specificType('charge_id', 'char(26)').primary().references('id').inTable('charge_flat_fees').onDelete('CASCADE');
    t.text('namespace').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.text('currency').notNullable();
    t.decimal('amount_before_proration', null).notNullable();
    t.boolean('pro_rating_enabled').notNullable();
    t.text('pro_rating_mode').notNullable();
    t.bigInteger('service_period_ms').notNullable();
    t.bigInteger('full_service_period_ms').notNullable();
    t.text('ratio').notNullable();
    t.decimal('unrounded_amount', null).notNullable();
    t.integer('currency_precision').notNullable();
    t.text('rounding_mode').notNullable();
    t.decimal('rounded_amount', null).notNullable();
    t.decimal('rounding_delta', null).notNullable();
    t.text('not_prorated_because').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('charge_flat_fee_proration_receipts');
}
