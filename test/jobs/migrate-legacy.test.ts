import { expect } from 'chai';
import { ulid } from 'ulid';
import { migrateLatest } from '../../src/db/migrate';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, allocation } from '../helpers/fixtures';
import { legacyAllocation, legacyCharge, legacyDetailedLine, legacyPayment, legacyTotals, legacyUsage, tableCounts } from '../helpers/legacy-rows';
import { useWorkerHarness } from '../helpers/queue';

// Each case seeds legacy rows in its own namespace and migrates only that namespace, so the cases
// share one database without seeing each other. The upstream example is seeded before the upgrade
// (a populated legacy database); the other cases write legacy rows after it, as a legacy charge
// not yet migrated looks exactly the same (migrated_to_runs defaults to false).

const QUEUE = 'migrate-legacy-flat-fees';

describe('migrate-legacy-flat-fees: legacy realizations move under one current run', () => {
  const db = useTestDatabase('migrate_legacy', 'legacy');
  const h = useWorkerHarness('migrate-legacy', () => db().knex);
  const knex = () => db().knex;
  const upstream = { ns: 'ns-upstream', c120: ulid(), c80: ulid(), a120: ulid() };

  before(async () => {
    // given the upstream example in the legacy shape, then the schema upgrade on the populated database
    await legacyCharge(knex(), upstream.ns, { id: upstream.c120, amount_before_proration: '120', amount_after_proration: '120' });
    await legacyCharge(knex(), upstream.ns, { id: upstream.c80, amount_before_proration: '80', amount_after_proration: '80' });
    await legacyAllocation(knex(), upstream.ns, upstream.c120, '120', { id: upstream.a120 });
    await migrateLatest(knex());
  });

  const charge = (id: string) => knex()('charge_flat_fees').where({ id }).first();
  const runsOf = (chargeId: string) => knex()('charge_flat_fee_runs').where({ charge_id: chargeId });
  const migrate = (payload: Record<string, unknown>) => h().run(QUEUE, payload);

  it('gives the upstream example one final_realization run each, totals from the allocations', async () => {
    const out = await migrate({ namespace: upstream.ns });
    expect(out.state).to.equal('completed');
    expect(out.result).to.deep.equal({ dryRun: false, charges: 2, runs: 2, allocations: 1, detailedLines: 0, invoicedUsages: 0, payments: 0, verified: true });
    for (const [id, amount, credited] of [[upstream.c120, '120', '120'], [upstream.c80, '80', '0']]) {
      const runs = await runsOf(id);
      expect(runs).to.have.length(1);
      expect(runs[0]).to.deep.include({
        type: 'final_realization',
        initial_type: 'final_realization',
        namespace: upstream.ns,
        amount_after_proration: amount,
        amount: credited,
        charges_total: credited,
        credits_total: credited,
        discounts_total: '0',
        taxes_total: '0',
        total: '0',
        line_id: null,
        invoice_id: null,
        no_fiat_transaction_required: true,
        deleted_at: null,
      });
      expect(runs[0].created_at.toISOString()).to.equal('2025-12-20T10:00:00.000Z');
      expect(runs[0].service_period_to.toISOString()).to.equal('2026-02-01T00:00:00.000Z');
      const row = await charge(id);
      expect(row).to.deep.include({ migrated_to_runs: true, current_realization_run_id: runs[0].id, status: 'final' });
      expect(row.updated_at.toISOString()).to.equal('2025-12-20T10:00:00.000Z');
    }
    const copied = await knex()('charge_flat_fee_run_credit_allocations').where({ id: upstream.a120 }).first();
    expect(copied).to.deep.include({ run_id: (await charge(upstream.c120)).current_realization_run_id, amount: '120', type: 'allocation', namespace: upstream.ns });
  });

  it('takes an invoiced charge\'s run totals from its usage; the usage loses line and mutable, the payment moves', async () => {
    const ns = 'ns-invoiced';
    const id = await legacyCharge(knex(), ns, { settlement_mode: 'invoice_only', status: 'final', status_detailed: 'final', amount_after_proration: '100' });
    const totals = legacyTotals({ amount: '100', charges_total: '100', discounts_total: '10', taxes_exclusive_total: '9', taxes_total: '9', total: '99' });
    const usageId = await legacyUsage(knex(), ns, id, totals, { mutable: true });
    const paymentId = await legacyPayment(knex(), ns, id, '99');
    const lineA = await legacyDetailedLine(knex(), ns, id, 'a', '60');
    const lineB = await legacyDetailedLine(knex(), ns, id, 'b', '39.5');

    const out = await migrate({ namespace: ns });
    expect(out.result).to.deep.include({ charges: 1, runs: 1, allocations: 0, detailedLines: 2, invoicedUsages: 1, payments: 1, verified: true });
    const [run] = await runsOf(id);
    expect(run).to.deep.include({ line_id: null, invoice_id: null, no_fiat_transaction_required: true, amount: '100', charges_total: '100', discounts_total: '10', taxes_exclusive_total: '9', taxes_inclusive_total: '0', taxes_total: '9', credits_total: '0', total: '99' });
    const usage = await knex()('charge_flat_fee_run_invoiced_usages').where({ id: usageId }).first();
    expect(usage).to.deep.include({ run_id: run.id, total: '99', discounts_total: '10', ledger_transaction_group_id: `ltg-${usageId}` });
    expect(usage).to.not.have.any.keys('line_id', 'mutable', 'charge_id');
    const payment = await knex()('charge_flat_fee_run_payments').where({ id: paymentId }).first();
    expect(payment).to.deep.include({ run_id: run.id, status: 'settled', amount: '99' });
    const lines = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: run.id }).orderBy('child_unique_reference_id');
    expect(lines.map((l) => [l.id, l.child_unique_reference_id, l.total])).to.deep.equal([[lineA, 'a', '60'], [lineB, 'b', '39.5']]);
  });

  it('migrates deleted charges and soft-deleted allocations, keeps corrections on their allocation, sums only live credits', async () => {
    const ns = 'ns-deleted';
    const deletedAt = new Date('2026-01-15T00:00:00Z');
    // given a deleted credit_only charge: 50 allocated, 20 corrected, and a superseded allocation of 999
    const id = await legacyCharge(knex(), ns, { status: 'deleted', status_detailed: 'deleted', deleted_at: deletedAt, amount_after_proration: '50' });
    const a = await legacyAllocation(knex(), ns, id, '50', { sort_hint: 0 });
    const c = await legacyAllocation(knex(), ns, id, '-20', { type: 'correction', corrects_realization_id: a, sort_hint: 0 });
    const gone = await legacyAllocation(knex(), ns, id, '999', { deleted_at: deletedAt, sort_hint: 1 });
    // and one whose corrections exceed its allocations: its credits show as 0, never negative
    const negative = await legacyCharge(knex(), ns, { amount_after_proration: '10' });
    const b = await legacyAllocation(knex(), ns, negative, '10');
    await legacyAllocation(knex(), ns, negative, '-10', { type: 'correction', corrects_realization_id: b });
    await legacyAllocation(knex(), ns, negative, '-5', { type: 'correction', corrects_realization_id: b });

    const out = await migrate({ namespace: ns });
    expect(out.result).to.deep.include({ charges: 2, runs: 2, allocations: 6, verified: true });
    const [run] = await runsOf(id);
    expect(run.deleted_at.toISOString()).to.equal(deletedAt.toISOString());
    expect(run).to.deep.include({ amount: '30', charges_total: '30', credits_total: '30', total: '0' });
    const rows = await knex()('charge_flat_fee_run_credit_allocations').where({ run_id: run.id }).orderBy('amount');
    expect(rows.map((r) => [r.id, r.amount, r.type, r.corrects_realization_id, r.deleted_at?.toISOString() ?? null])).to.deep.equal([
      [c, '-20', 'correction', a, null],
      [a, '50', 'allocation', null, null],
      [gone, '999', 'allocation', null, deletedAt.toISOString()],
    ]);
    expect((await runsOf(negative))[0]).to.deep.include({ amount: '0', credits_total: '0' });
    expect(await charge(id)).to.deep.include({ status: 'deleted', migrated_to_runs: true, current_realization_run_id: run.id });
  });

  it('migrates every settlement mode and status; only credit_only charges show credits without a usage', async () => {
    const ns = 'ns-mix';
    const cases = [
      ['credit_only', 'created', '0'],
      ['credit_only', 'active', '0'],
      ['credit_then_invoice', 'active', '0'],
      ['invoice_only', 'active', '0'],
    ];
    const ids: string[] = [];
    for (const [mode, status] of cases) {
      const id = await legacyCharge(knex(), ns, { settlement_mode: mode, status, status_detailed: status });
      ids.push(id);
    }
    // a credit_then_invoice charge partly credited and not yet invoiced: credits stay off its totals
    await legacyAllocation(knex(), ns, ids[2], '40');
    const out = await migrate({ namespace: ns, batchSize: 1 });
    expect(out.result).to.deep.include({ charges: 4, runs: 4, allocations: 1, verified: true });
    for (let i = 0; i < cases.length; i += 1) {
      const [run] = await runsOf(ids[i]);
      expect(run, cases[i].join('/')).to.deep.include({ amount: cases[i][2], credits_total: '0', no_fiat_transaction_required: true });
      expect((await charge(ids[i])).status).to.equal(cases[i][1]);
    }
  });

  it('never touches charges created by the new code', async () => {
    const ns = 'ns-new-code';
    const p = chargePayload({ namespace: ns });
    await h().run('create-charge', p);
    const before = await charge(p.id);
    const out = await migrate({ namespace: ns });
    expect(out.result).to.deep.include({ charges: 0, runs: 0, verified: true });
    expect(await charge(p.id)).to.deep.equal(before);
    expect(await runsOf(p.id)).to.have.length(0);
  });

  it('dry run counts what would move and writes nothing; a finished migration re-run changes nothing', async () => {
    const ns = 'ns-dry';
    const id = await legacyCharge(knex(), ns, { settlement_mode: 'credit_then_invoice', status: 'active', status_detailed: 'active' });
    await legacyAllocation(knex(), ns, id, '25');
    await legacyUsage(knex(), ns, id, legacyTotals({ amount: '100', charges_total: '100', credits_total: '25', total: '75' }));
    await legacyDetailedLine(knex(), ns, id, 'x', '100');

    const untouched = await tableCounts(knex());
    const keys = await knex()('flat_fee_idempotency_keys').count({ n: '*' });
    const dry = await migrate({ namespace: ns, dryRun: true });
    expect(dry.result).to.deep.equal({ dryRun: true, charges: 1, runs: 1, allocations: 1, detailedLines: 1, invoicedUsages: 1, payments: 0, verified: true });
    expect(await tableCounts(knex())).to.deep.equal(untouched);
    expect(await knex()('flat_fee_idempotency_keys').count({ n: '*' })).to.deep.equal(keys);

    const first = await migrate({ namespace: ns, idempotencyKey: 'mig-dry-1' });
    expect(first.result).to.deep.include({ charges: 1, allocations: 1, invoicedUsages: 1, detailedLines: 1 });
    const after = await tableCounts(knex());
    const replay = await migrate({ namespace: ns, idempotencyKey: 'mig-dry-1' });
    expect(replay.result).to.deep.equal({ ...first.result, replayed: true });
    const rerun = await migrate({ namespace: ns });
    expect(rerun.result).to.deep.equal({ dryRun: false, charges: 0, runs: 0, allocations: 0, detailedLines: 0, invoicedUsages: 0, payments: 0, verified: true });
    expect(await tableCounts(knex())).to.deep.equal(after);
    expect((await migrate({ namespace: ns, dryRun: true })).result).to.deep.include({ charges: 0, allocations: 0, verified: true });
  });

  it('fails a job on a legacy charge with charge_not_migrated and retries it until the charge is migrated', async () => {
    const ns = 'ns-waiting';
    const id = await legacyCharge(knex(), ns, { status: 'active', status_detailed: 'active', amount_after_proration: '70' });
    const job = await h().add('allocate-credit', { namespace: ns, chargeId: id, realizations: [allocation('70')] }, { attempts: 50, backoff: { type: 'fixed', delay: 100 } });
    // when the job has failed at least once on the unmigrated charge
    const waiting = await h().failedOnce(job);
    expect(waiting.failedReason).to.match(/^charge_not_migrated: /);
    // then the migration lets its next attempt through
    await migrate({ namespace: ns });
    const out = await h().wait(job);
    expect(out.state).to.equal('completed');
    expect(out.job.attemptsMade).to.be.greaterThan(1);
    expect(await charge(id)).to.deep.include({ status: 'final' });
    expect((await runsOf(id))[0]).to.deep.include({ amount: '70', credits_total: '70' });
  });

  it('fails the job with legacy_migration_mismatch and rolls the batch back when a copy does not add up', async () => {
    const ns = 'ns-mismatch';
    const good = await legacyCharge(knex(), ns, { id: `0${ulid().slice(1)}` });
    await legacyAllocation(knex(), ns, good, '100');
    const bad = await legacyCharge(knex(), ns, { id: `7${ulid().slice(1)}` });
    await legacyAllocation(knex(), ns, bad, '13.13');
    const later: string[] = [];
    for (let i = 0; i < 20; i += 1) later.push(await legacyCharge(knex(), ns, { id: `9${ulid().slice(1)}` }));
    // a trigger that silently drops one copied row: only a real count check notices
    await knex().raw(`CREATE FUNCTION ffw_drop_1313() RETURNS trigger AS $$ BEGIN IF NEW.amount = 13.13 THEN RETURN NULL; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await knex().raw(`CREATE TRIGGER ffw_drop_1313 BEFORE INSERT ON charge_flat_fee_run_credit_allocations FOR EACH ROW EXECUTE FUNCTION ffw_drop_1313()`);
    try {
      const out = await h().run(QUEUE, { namespace: ns, batchSize: 1 }, { attempts: 1 });
      expect(out.state).to.equal('failed');
      expect(out.failedReason).to.match(/^legacy_migration_mismatch: batch of 1 charges \[first=7\w+ last=7\w+\] rolled back: allocations: legacy 1 rows \/ 13\.13 ≠ migrated 0 rows \/ 0/);
      expect((await charge(good)).migrated_to_runs).to.equal(true);
      expect(await charge(bad)).to.deep.include({ migrated_to_runs: false, current_realization_run_id: null });
      expect(await runsOf(bad)).to.have.length(0);
      // the failure stops the other lane too: it finishes the batch in hand and takes no other
      const moved = await knex()('charge_flat_fees').whereIn('id', later).where({ migrated_to_runs: true }).count({ n: '*' });
      expect(Number(moved[0].n)).to.be.at.most(2);
    } finally {
      await knex().raw('DROP TRIGGER ffw_drop_1313 ON charge_flat_fee_run_credit_allocations');
      await knex().raw('DROP FUNCTION ffw_drop_1313()');
    }
    const retry = await migrate({ namespace: ns });
    expect(retry.result).to.deep.include({ allocations: 1, verified: true });
    expect(await knex()('charge_flat_fees').where({ namespace: ns, migrated_to_runs: false }).count({ n: '*' })).to.deep.equal([{ n: '0' }]);
  });

  it('rejects bad payloads with every field named', async () => {
    const out = await h().run(QUEUE, { batchSize: '1000', dryRun: 'yes', extra: 1 });
    expect(out.state).to.equal('failed');
    expect(out.failedReason).to.match(/^validation_failed: /);
    expect(out.failedReason).to.include('batchSize').and.include('dryRun').and.include('extra');
    const zero = await h().run(QUEUE, { batchSize: 0 });
    expect(zero.failedReason).to.match(/^validation_failed: batchSize/);
    const huge = await h().run(QUEUE, { batchSize: 10001 });
    expect(huge.failedReason).to.match(/^validation_failed: batchSize/);
  });
});
