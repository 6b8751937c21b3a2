import { expect } from 'chai';
import { ulid } from 'ulid';
import { realizedCredits } from '../../src/db/balance';
import { getCharge } from '../../src/db/read-charge';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, correction, NS, totals } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

// The upstream scenarios (OpenMeter flat-fee runs) that must hold exactly (issue 4).
describe('realization jobs: allocate-credit, create-invoiced-usage, payment, balance', () => {
  const db = useTestDatabase('realization');
  const h = useWorkerHarness('realization', () => db().knex);
  const knex = () => db().knex;

  async function createCharge(overrides: Record<string, unknown> = {}) {
    const p = chargePayload(overrides);
    const out = await h().run('create-charge', p);
    expect(out.state, out.failedReason ?? '').to.equal('completed');
    return p.id;
  }

  async function activeCreditOnly(overrides: Record<string, unknown> = {}) {
    const id = await createCharge(overrides);
    const out = await h().run('activate-charge', { namespace: NS, chargeId: id, at: '2026-01-01T00:00:00Z' });
    expect(out.state).to.equal('completed');
    return { id, runId: out.result!.currentRunId as string };
  }

  const allocate = (chargeId: string, realizations: unknown[], opts = {}) => h().run('allocate-credit', { namespace: NS, chargeId, realizations }, opts);
  const realizationsOf = (runId: string) =>
    knex()('charge_flat_fee_run_credit_allocations').where({ run_id: runId }).orderBy([{ column: 'created_at' }, { column: 'sort_hint' }]);
  const run = (id: string) => knex()('charge_flat_fee_runs').where({ id }).first();
  const charge = (id: string) => knex()('charge_flat_fees').where({ id }).first();

  it('1. credit_only $100: created without run, early activation delayed, activation, one allocation of 100 → final', async () => {
    const id = await createCharge();
    expect(await charge(id)).to.deep.include({ status: 'created', current_realization_run_id: null });
    const activated = await h().run('activate-charge', { namespace: NS, chargeId: id, at: '2025-12-15T00:00:00Z' });
    expect(activated.job.progress).to.deep.equal({ delayedUntil: '2026-01-01T00:00:00.000Z' });
    const runId = activated.result!.currentRunId as string;
    expect(await run(runId)).to.deep.include({ no_fiat_transaction_required: true });

    const out = await allocate(id, [allocation('100')]);
    expect(out.state).to.equal('completed');
    const rows = await realizationsOf(runId);
    expect(rows.map((r) => [r.type, r.amount, r.sort_hint])).to.deep.equal([['allocation', '100', 0]]);
    expect(await run(runId)).to.deep.include({ amount: '100', charges_total: '100', credits_total: '100', total: '0', taxes_total: '0', discounts_total: '0' });
    expect((await charge(id)).status).to.equal('final');
  });

  it('2. credit_only funded 30 + 50 + 20 → three realizations in order; 30 + 50 alone fails and writes nothing', async () => {
    const short = await activeCreditOnly();
    const failed = await allocate(short.id, [allocation('30'), allocation('50')]);
    expect(failed.state).to.equal('failed');
    expect(failed.failedReason).to.match(/^credit_allocations_do_not_match_total: credit allocations do not match total/);
    expect(failed.job.attemptsMade).to.equal(1);
    expect(await realizationsOf(short.runId)).to.have.length(0);
    expect(await run(short.runId)).to.deep.include({ amount: '0', credits_total: '0' });
    expect((await charge(short.id)).status).to.equal('active');

    const out = await allocate(short.id, [allocation('30'), allocation('50'), allocation('20')]);
    expect(out.state).to.equal('completed');
    const rows = await realizationsOf(short.runId);
    expect(rows.map((r) => [r.amount, r.sort_hint])).to.deep.equal([['30', 0], ['50', 1], ['20', 2]]);
    expect(await run(short.runId)).to.deep.include({ amount: '100', charges_total: '100', credits_total: '100', total: '0' });
    expect((await charge(short.id)).status).to.equal('final');

    const again = await allocate(short.id, [allocation('100')]);
    expect(again.failedReason).to.match(/^charge_not_active: /);
  });

  it('3. credit_then_invoice $100: allocate 30, invoice 100/30/70, authorize 70, settle → final', async () => {
    const id = await createCharge({ settlementMode: 'credit_then_invoice' });
    const runId = (await charge(id)).current_realization_run_id;
    await allocate(id, [allocation('30')]);
    expect((await realizationsOf(runId)).map((r) => r.amount)).to.deep.equal(['30']);
    expect(await run(runId)).to.deep.include({ amount: '0', credits_total: '0', total: '0' });

    const lineId = ulid();
    const invoiceId = ulid();
    const usageTotals = totals({ amount: '100', chargesTotal: '100', creditsTotal: '30', total: '70' });
    const usage = await h().run('create-invoiced-usage', {
      namespace: NS, chargeId: id, lineId, invoiceId,
      servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
      totals: usageTotals,
    });
    expect(usage.state, usage.failedReason ?? '').to.equal('completed');
    expect(await run(runId)).to.deep.include({ line_id: lineId, invoice_id: invoiceId, amount: '100', charges_total: '100', credits_total: '30', total: '70' });
    const usageRows = await knex()('charge_flat_fee_run_invoiced_usages').where({ run_id: runId });
    expect(usageRows).to.have.length(1);
    expect(usageRows[0]).to.deep.include({ amount: '100', credits_total: '30', total: '70' });

    const pay = { namespace: NS, chargeId: id, lineId, invoiceId, transactionGroupId: 'tg-pay' };
    const auth = await h().run('payment', { ...pay, action: 'authorize' });
    expect(auth.result).to.deep.include({ status: 'authorized', amount: '70', skipped: false });
    let payment = await knex()('charge_flat_fee_run_payments').where({ run_id: runId }).first();
    expect(payment).to.deep.include({ status: 'authorized', amount: '70', line_id: lineId, invoice_id: invoiceId, authorized_transaction_group_id: 'tg-pay' });
    expect((await charge(id)).status).to.equal('active');

    const settle = await h().run('payment', { ...pay, action: 'settle', transactionGroupId: 'tg-settle' });
    expect(settle.state).to.equal('completed');
    payment = await knex()('charge_flat_fee_run_payments').where({ run_id: runId }).first();
    expect(payment).to.deep.include({ status: 'settled', settled_transaction_group_id: 'tg-settle' });
    expect((await charge(id)).status).to.equal('final');

    const twice = await h().run('payment', { ...pay, action: 'settle', transactionGroupId: 'tg-settle-2' });
    expect(twice.failedReason).to.match(/^payment_already_settled: /);
    const reauth = await h().run('payment', { ...pay, action: 'authorize', transactionGroupId: 'tg-pay-2' });
    expect(reauth.failedReason).to.match(/^payment_already_settled: /);
  });

  it('4. fully credited credit_then_invoice: usage total 0 → authorize skipped, no payment row', async () => {
    const id = await createCharge({ settlementMode: 'credit_then_invoice' });
    const runId = (await charge(id)).current_realization_run_id;
    await allocate(id, [allocation('100')]);
    const lineId = ulid();
    const invoiceId = ulid();
    await h().run('create-invoiced-usage', {
      namespace: NS, chargeId: id, lineId, invoiceId,
      servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
      totals: totals({ amount: '100', chargesTotal: '100', creditsTotal: '100', total: '0' }),
    });
    const auth = await h().run('payment', { namespace: NS, chargeId: id, action: 'authorize', lineId, invoiceId, transactionGroupId: 'tg' });
    expect(auth.state).to.equal('completed');
    expect(auth.result).to.deep.include({ skipped: true, paymentId: null });
    expect(await knex()('charge_flat_fee_run_payments').where({ run_id: runId })).to.have.length(0);
    const over = await allocate(id, [allocation('0.01')]);
    expect(over.failedReason).to.match(/^credit_allocations_exceed_total: /);
  });

  it('5. corrections: −30 on the 30 is fine; another −1 on it → insufficient_remaining_credit', async () => {
    const id = await createCharge({ settlementMode: 'credit_then_invoice' });
    const runId = (await charge(id)).current_realization_run_id;
    const first = await allocate(id, [allocation('20'), allocation('30')]);
    const [, thirty] = first.result!.realizationIds as string[];
    const ok = await allocate(id, [correction('-30', thirty)]);
    expect(ok.state).to.equal('completed');
    const bad = await allocate(id, [correction('-1', thirty)]);
    expect(bad.state).to.equal('failed');
    expect(bad.failedReason).to.match(/^insufficient_remaining_credit: .*remaining 0/);
    const rows = await realizationsOf(runId);
    expect(rows.map((r) => [r.type, r.amount, r.corrects_realization_id])).to.deep.equal([
      ['allocation', '20', null],
      ['allocation', '30', null],
      ['correction', '-30', thirty],
    ]);
  });

  it('6. detailed lines upsert by child reference: kept, updated, new, and missing ones soft-deleted', async () => {
    const id = await createCharge({ settlementMode: 'invoice_only' });
    const runId = (await charge(id)).current_realization_run_id;
    const lineId = ulid();
    const invoiceId = ulid();
    const base = { namespace: NS, chargeId: id, lineId, invoiceId, servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, totals: totals({ amount: '100', chargesTotal: '100', total: '100' }) };
    const line = (ref: string, quantity: string, extra: Record<string, unknown> = {}) => ({ childUniqueReferenceId: ref, name: `line ${ref}`, quantity, perUnitAmount: '10', totals: totals({ amount: '10', total: '10' }), ...extra });
    await h().run('create-invoiced-usage', { ...base, detailedLines: [line('keep', '1', { description: 'first' }), line('delete', '2')] });
    const before = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: runId, child_unique_reference_id: 'keep' }).first();
    const second = await h().run('create-invoiced-usage', { ...base, detailedLines: [line('keep', '3'), line('new', '1')] });
    expect(second.state, second.failedReason ?? '').to.equal('completed');

    const rows = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: runId }).orderBy('child_unique_reference_id');
    const live = rows.filter((r) => r.deleted_at === null);
    expect(live.map((r) => [r.child_unique_reference_id, r.quantity, r.description])).to.deep.equal([['keep', '3', null], ['new', '1', null]]);
    const kept = live.find((r) => r.child_unique_reference_id === 'keep');
    expect(kept.id).to.equal(before.id);
    expect(kept.created_at.getTime()).to.equal(before.created_at.getTime());
    const deleted = rows.filter((r) => r.deleted_at !== null);
    expect(deleted.map((r) => r.child_unique_reference_id)).to.deep.equal(['delete']);
    expect(await knex()('charge_flat_fee_run_invoiced_usages').where({ run_id: runId })).to.have.length(1);

    const view = await getCharge(knex(), NS, id, { expand: ['realizations', 'detailedLines'] });
    expect(view!.realizations!.currentRun!.detailedLines!.map((l) => l.childUniqueReferenceId)).to.deep.equal(['keep', 'new']);

    const other = await h().run('create-invoiced-usage', { ...base, lineId: ulid() });
    expect(other.failedReason).to.match(/^invoiced_usage_already_exists: /);
    const otherCharge = await createCharge({ settlementMode: 'invoice_only' });
    const reused = await h().run('create-invoiced-usage', { ...base, chargeId: otherCharge });
    expect(reused.failedReason).to.match(/^line_already_used: /);
  });

  it('7. balance: current runs only; a voided current run and a charge without run add 0', async () => {
    const customerId = `cust-${ulid()}`;
    const a = await createCharge({ customerId, settlementMode: 'credit_then_invoice' });
    const b = await createCharge({ customerId, settlementMode: 'credit_then_invoice' });
    await createCharge({ customerId });
    await allocate(a, [allocation('10')]);
    await allocate(b, [allocation('25')]);
    expect((await realizedCredits(knex(), NS, customerId, 'USD')).toFixed()).to.equal('35');
    await knex()('charge_flat_fee_runs').where({ id: (await charge(a)).current_realization_run_id }).update({ type: 'invalid_due_to_unsupported_credit_note' });
    expect((await realizedCredits(knex(), NS, customerId, 'USD')).toFixed()).to.equal('25');
    expect((await realizedCredits(knex(), NS, customerId, 'EUR')).toFixed()).to.equal('0');
  });

  it('8. replays of every job kind change nothing; a payload change under the same key is a conflict', async () => {
    const key = (k: string) => ({ idempotencyKey: `${k}-${ulid()}` });
    const p = chargePayload({ settlementMode: 'credit_then_invoice' });
    const k1 = key('create');
    const first = await h().run('create-charge', p, k1);
    const replay = await h().run('create-charge', p, k1);
    expect(replay.result).to.deep.equal({ ...first.result, replayed: true });
    expect(await knex()('charge_flat_fees').where({ id: p.id })).to.have.length(1);

    const k2 = key('alloc');
    const alloc = { namespace: NS, chargeId: p.id, realizations: [allocation('10')] };
    await h().run('allocate-credit', alloc, k2);
    await h().run('allocate-credit', alloc, k2);
    const runId = (await charge(p.id)).current_realization_run_id;
    expect(await realizationsOf(runId)).to.have.length(1);
    const conflict = await h().run('allocate-credit', { ...alloc, realizations: [allocation('11')] }, k2);
    expect(conflict.failedReason).to.match(/^idempotency_key_conflict: /);
    expect(conflict.job.attemptsMade).to.equal(1);

    const lineId = ulid();
    const invoiceId = ulid();
    const usage = { namespace: NS, chargeId: p.id, lineId, invoiceId, servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, totals: totals({ amount: '100', chargesTotal: '100', creditsTotal: '10', total: '90' }) };
    const k3 = key('usage');
    await h().run('create-invoiced-usage', usage, k3);
    const usageReplay = await h().run('create-invoiced-usage', usage, k3);
    expect(usageReplay.result!.replayed).to.equal(true);

    const pay = { namespace: NS, chargeId: p.id, lineId, invoiceId, transactionGroupId: 'tg' };
    const k4 = key('auth');
    await h().run('payment', { ...pay, action: 'authorize' }, k4);
    const authReplay = await h().run('payment', { ...pay, action: 'authorize' }, k4);
    expect(authReplay.state).to.equal('completed');
    expect(authReplay.result!.replayed).to.equal(true);
    const k5 = key('settle');
    await h().run('payment', { ...pay, action: 'settle' }, k5);
    const settleReplay = await h().run('payment', { ...pay, action: 'settle' }, k5);
    expect(settleReplay.result!.replayed).to.equal(true);

    const k6 = key('activate');
    await h().run('activate-charge', { namespace: NS, chargeId: p.id }, k6);
    expect((await h().run('activate-charge', { namespace: NS, chargeId: p.id }, k6)).result!.replayed).to.equal(true);
    expect(await knex()('charge_flat_fee_runs').where({ charge_id: p.id })).to.have.length(1);
    expect(await knex()('charge_flat_fee_run_payments').where({ run_id: runId })).to.have.length(1);
  });

  it('retries a job that arrives before its precondition, then fails it with its code', async () => {
    const id = await createCharge();
    const out = await allocate(id, [allocation('100')]);
    expect(out.state).to.equal('failed');
    expect(out.failedReason).to.match(/^current_run_required: /);
    expect(out.job.attemptsMade).to.equal(3);

    const settleFirst = await createCharge({ settlementMode: 'invoice_only' });
    const early = await h().run('payment', { namespace: NS, chargeId: settleFirst, action: 'settle', lineId: ulid(), invoiceId: ulid(), transactionGroupId: 'tg' });
    expect(early.failedReason).to.match(/^cannot_settle_not_authorized_payment: /);
    expect(early.job.attemptsMade).to.equal(3);
  });

  it('a settle enqueued before its authorize completes once the authorize lands', async () => {
    const id = await createCharge({ settlementMode: 'invoice_only' });
    const lineId = ulid();
    const invoiceId = ulid();
    await h().run('create-invoiced-usage', { namespace: NS, chargeId: id, lineId, invoiceId, servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, totals: totals({ amount: '100', chargesTotal: '100', total: '100' }) });
    const pay = { namespace: NS, chargeId: id, lineId, invoiceId, transactionGroupId: 'tg' };
    const settle = await h().add('payment', { ...pay, action: 'settle' }, { attempts: 20, backoff: { type: 'fixed', delay: 50 } });
    // the authorize goes in only once the settle has been refused for want of it
    expect((await h().failedOnce(settle)).failedReason).to.match(/^cannot_settle_not_authorized_payment: /);
    await h().run('payment', { ...pay, action: 'authorize' });
    const out = await h().wait(settle);
    expect(out.state).to.equal('completed');
    expect(out.job.attemptsMade).to.be.greaterThan(0);
    expect((await charge(id)).status).to.equal('final');
  });

  it('credits on an invoice_only charge are refused with credits_not_allowed', async () => {
    const id = await createCharge({ settlementMode: 'invoice_only' });
    const out = await allocate(id, [allocation('10')]);
    expect(out.failedReason).to.match(/^credits_not_allowed: /);
    expect(out.job.attemptsMade).to.equal(1);
  });

  it('concurrent allocate-credit jobs on one credit_then_invoice charge never over-allocate', async () => {
    const id = await createCharge({ settlementMode: 'credit_then_invoice' });
    const runId = (await charge(id)).current_realization_run_id;
    const jobs = await Promise.all(Array.from({ length: 30 }, () => h().add('allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('7')] })));
    const outcomes = await Promise.all(jobs.map((j) => h().wait(j)));
    const done = outcomes.filter((o) => o.state === 'completed');
    const refused = outcomes.filter((o) => o.state === 'failed');
    expect(done).to.have.length(14);
    expect(refused).to.have.length(16);
    for (const o of refused) expect(o.failedReason).to.match(/^credit_allocations_exceed_total: /);
    const rows = await realizationsOf(runId);
    expect(rows).to.have.length(14);
  });
});
