import type { Knex } from 'knex';

// A charge re-prorated mid-period gets a new current run with a receipt of its own, beside the one
// create-charge stored: receipts get their own id (a charge's first receipt keeps the charge's id)
// and name the run they priced.

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts ADD COLUMN id char(26)`);
  await knex.raw(`UPDATE charge_flat_fee_proration_receipts SET id = charge_id`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts ALTER COLUMN id SET NOT NULL`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts DROP CONSTRAINT charge_flat_fee_proration_receipts_pkey`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts ADD CONSTRAINT charge_flat_fee_proration_receipts_pkey PRIMARY KEY (id)`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts ADD COLUMN run_id char(26) NULL`);
  await knex.raw(`CREATE INDEX charge_flat_fee_proration_receipts_charge ON charge_flat_fee_proration_receipts (namespace, charge_id, created_at)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX charge_flat_fee_proration_receipts_charge`);
  await knex.raw(`DELETE FROM charge_flat_fee_proration_receipts WHERE id <> charge_id`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts DROP CONSTRAINT charge_flat_fee_proration_receipts_pkey`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts ADD CONSTRAINT charge_flat_fee_proration_receipts_pkey PRIMARY KEY (charge_id)`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts DROP COLUMN run_id`);
  await knex.raw(`ALTER TABLE charge_flat_fee_proration_receipts DROP COLUMN id`);
}
