import { expect } from 'chai';
import { migrateLatest } from '../../src/db/migrate';
import { useTestDatabase } from '../helpers/db';

const RUN_TABLES = [
  'charge_flat_fee_runs',
  'charge_flat_fee_run_credit_allocations',
  'charge_flat_fee_run_invoiced_usages',
  'charge_flat_fee_run_payments',
  'charge_flat_fee_run_detailed_lines',
  'flat_fee_idempotency_keys',
];
const LEGACY_TABLES = ['charge_flat_fees', 'charge_flat_fee_credit_allocations', 'charge_flat_fee_detailed_line', 'charge_flat_fee_invoiced_usages', 'charge_flat_fee_payments'];

describe('migrations', () => {
  describe('on an empty database', () => {
    const db = useTestDatabase('migrations_empty', 'empty');
    const tables = async () =>
      (await db().knex.raw(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex_%' ORDER BY 1`)).rows.map((r: { tablename: string }) => r.tablename);

    it('goes up, all the way down, and up again', async () => {
      const knex = db().knex;
      await migrateLatest(knex);
      expect(await tables()).to.include.members([...LEGACY_TABLES, ...RUN_TABLES]);
      while ((await knex.migrate.currentVersion()) !== 'none') await knex.migrate.down();
      expect(await tables()).to.deep.equal([]);
      await migrateLatest(knex);
      expect(await tables()).to.include.members([...LEGACY_TABLES, ...RUN_TABLES]);
    });
  });

  describe('on a populated legacy database', () => {
    const db = useTestDatabase('migrations_legacy', 'legacy');

    it('has the legacy shape at the baseline: no runs, no pointer', async () => {
      const knex = db().knex;
      expect(await knex.schema.hasTable('charge_flat_fee_runs')).to.equal(false);
      expect(await knex.schema.hasColumn('charge_flat_fees', 'current_realization_run_id')).to.equal(false);
      expect(await knex.schema.hasColumn('charge_flat_fee_invoiced_usages', 'mutable')).to.equal(true);
    });

    it('upgrades with rows in place, moving none of them', async () => {
      const knex = db().knex;
      const t = new Date('2026-01-01T00:00:00Z');
      await knex('charge_flat_fees').insert({
        id: '01JLEGACY0000000000000000A', namespace: 'ns', customer_id: 'c', currency: 'USD', name: 'fee',
        created_at: t, updated_at: t, status: 'final', status_detailed: 'final', settlement_mode: 'credit_only',
        payment_term: 'in_advance', invoice_at: t, service_period_from: t, service_period_to: t,
        full_service_period_from: t, full_service_period_to: t, billing_period_from: t, billing_period_to: t,
        pro_rating: 'no_prorate', amount_before_proration: '120', amount_after_proration: '120',
      });
      await knex('charge_flat_fee_credit_allocations').insert({
        id: '01JLEGACYA000000000000000A', namespace: 'ns', charge_id: '01JLEGACY0000000000000000A', created_at: t, updated_at: t,
        service_period_from: t, service_period_to: t, transaction_group_id: 'tg', amount: '120', type: 'allocation', sort_hint: 0,
      });
      await migrateLatest(knex);
      const charge = await knex('charge_flat_fees').first();
      expect(charge).to.deep.include({ current_realization_run_id: null, migrated_to_runs: false, amount_after_proration: '120' });
      expect(await knex('charge_flat_fee_runs')).to.have.length(0);
      expect(await knex('charge_flat_fee_credit_allocations')).to.have.length(1);
    });
  });
});
