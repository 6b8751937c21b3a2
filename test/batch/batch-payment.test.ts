import { expect } from 'chai';
import { Knex } from 'knex';
import { ulid } from 'ulid';
import * as usageJob from '../../jobs/create-invoiced-usage';
import * as paymentJob from '../../jobs/payment';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { NS, totals } from '../helpers/fixtures';
import { apply, chargesWithRuns, codeOf, item, roundTrips, silent } from './helpers';

interface Invoiced {
  chargeId: string;
  lineId: string;
  invoiceId: string;
}

/** Charges with an invoiced usage on their current run, `total` left to pay on each. */
async function invoicedCharges(knex: Knex, count: number, total: string): Promise<Invoiced[]> {
  const out: Invoiced[] = [];
  for (const chargeId of await chargesWithRuns(knex, count)) {
    const lineId = ulid();
    const invoiceId = ulid();
    const usage = {
      namespace: NS, chargeId, lineId, invoiceId,
      servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
      totals: totals({ amount: '100', chargesTotal: '100', creditsTotal: String(100 - Number(total)), total }),
    };
    await applyJob(usageJob, usage, { knex, logger: silent, job: null, jobId: `usage-${chargeId}` });
    out.push({ chargeId, lineId, invoiceId });
  }
  return out;
}

function pay(c: Invoiced, action: 'authorize' | 'settle', extra: Record<string, unknown> = {}) {
  return { namespace: NS, chargeId: c.chargeId, lineId: c.lineId, invoiceId: c.invoiceId, action, transactionGroupId: `tg-${action}`, at: '2026-02-03T04:05:06Z', ...extra };
}

describe('batched apply: payment jobs with set-based statements', () => {
  const db = useTestDatabase('batch_payment');
  const knex = () => db().knex;

  const paymentOf = (chargeId: string) =>
    knex()('charge_flat_fee_run_payments as p')
      .join('charge_flat_fees as c', 'c.current_realization_run_id', 'p.run_id')
      .where('c.id', chargeId)
      .select('p.status', 'p.amount', 'p.line_id', 'p.invoice_id', 'p.authorized_transaction_group_id', 'p.authorized_at', 'p.settled_transaction_group_id', 'p.settled_at', 'p.service_period_from', 'p.service_period_to');
  const statusOf = async (chargeId: string) => (await knex()('charge_flat_fees').where({ id: chargeId }).first()).status;
  const journalOf = (chargeId: string) =>
    knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue: 'payment' }).orderBy('id').select('outcome', 'error_code', 'changes', 'totals_before', 'totals_after');
  /** A result with its ids replaced by what they name, so two charges' results compare. */
  const shape = (result: Record<string, unknown>, c: Invoiced) => ({ ...result, chargeId: result.chargeId === c.chargeId, runId: typeof result.runId, paymentId: typeof result.paymentId });

  it('authorizes and settles 20 charges in two batches of two round trips each, writing what the per-job path writes', async () => {
    const [reference, ...batched] = await invoicedCharges(knex(), 21, '70');
    const perJob = [];
    for (const action of ['authorize', 'settle'] as const) {
      perJob.push(await applyJob(paymentJob, pay(reference, action), { knex: knex(), logger: silent, job: null, jobId: `ref-${action}` }));
    }

    const authorized = await roundTrips(knex(), () => apply(knex(), 'payment', batched.map((c) => item(pay(c, 'authorize')))));
    expect(authorized.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(authorized.trips).to.equal(2);
    for (const c of batched) expect((await paymentOf(c.chargeId)).map((p) => [p.status, p.amount])).to.deep.equal([['authorized', '70']]);
    const settled = await roundTrips(knex(), () => apply(knex(), 'payment', batched.map((c) => item(pay(c, 'settle')))));
    expect(settled.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(settled.trips).to.equal(2);

    const [refPayment] = await paymentOf(reference.chargeId);
    const refJournal = await journalOf(reference.chargeId);
    expect(refJournal.map((j) => j.changes)).to.deep.equal([{ charge_flat_fee_run_payments: { inserted: 1 } }, { charge_flat_fees: { updated: 1 }, charge_flat_fee_run_payments: { updated: 1 } }]);
    for (const [i, c] of batched.entries()) {
      expect(await paymentOf(c.chargeId)).to.deep.equal([{ ...refPayment, line_id: c.lineId, invoice_id: c.invoiceId }]);
      expect(await statusOf(c.chargeId)).to.equal('final');
      expect(await journalOf(c.chargeId)).to.deep.equal(refJournal);
      const results = [authorized.out[i], settled.out[i]].map((o) => (o as { result: Record<string, unknown> }).result);
      expect(results.map((r) => shape(r, c))).to.deep.equal(perJob.map((r) => shape(r, reference)));
    }
  });

  it('authorize then settle of one charge in the same batch: one settled payment, the charge final, each job journaled with its own change', async () => {
    const [c, zero] = [...(await invoicedCharges(knex(), 1, '70')), ...(await invoicedCharges(knex(), 1, '0'))];
    const { out, trips } = await roundTrips(knex(), () =>
      apply(knex(), 'payment', [item(pay(c, 'authorize')), item(pay(zero, 'authorize')), item(pay(c, 'settle', { transactionGroupId: 'tg-s' })), item(pay(zero, 'settle'))]),
    );
    expect(out.map(codeOf)).to.deep.equal([null, null, null, null]);
    expect(trips).to.equal(2);
    const results = out.map((o) => (o as { result: Record<string, unknown> }).result);
    expect(results.map((r) => [r.action, r.skipped, r.status, r.chargeStatus])).to.deep.equal([
      ['authorize', false, 'authorized', undefined],
      ['authorize', true, null, undefined],
      ['settle', false, 'settled', 'final'],
      ['settle', true, null, 'final'],
    ]);
    expect(results[2].paymentId).to.equal(results[0].paymentId);
    expect((await paymentOf(c.chargeId)).map((p) => [p.status, p.amount, p.authorized_transaction_group_id, p.settled_transaction_group_id])).to.deep.equal([['settled', '70', 'tg-authorize', 'tg-s']]);
    expect(await paymentOf(zero.chargeId)).to.deep.equal([]);
    expect([await statusOf(c.chargeId), await statusOf(zero.chargeId)]).to.deep.equal(['final', 'final']);
    expect((await journalOf(c.chargeId)).map((j) => j.changes)).to.deep.equal([{ charge_flat_fee_run_payments: { inserted: 1 } }, { charge_flat_fees: { updated: 1 }, charge_flat_fee_run_payments: { updated: 1 } }]);
    expect((await journalOf(zero.chargeId)).map((j) => j.changes)).to.deep.equal([{}, { charge_flat_fees: { updated: 1 } }]);
  });

  it('a settle with nothing authorized among 20 fails alone with its code; the batch is redone one savepoint per job and the rest commit', async () => {
    const charges = await invoicedCharges(knex(), 20, '70');
    const outcomes = await apply(knex(), 'payment', charges.map((c, i) => item(pay(c, i === 7 ? 'settle' : 'authorize'))));
    expect(outcomes.map(codeOf)).to.deep.equal(charges.map((_, i) => (i === 7 ? 'cannot_settle_not_authorized_payment' : null)));
    expect(await paymentOf(charges[7].chargeId)).to.deep.equal([]);
    expect(await statusOf(charges[7].chargeId)).to.not.equal('final');
    for (const [i, c] of charges.entries()) if (i !== 7) expect((await paymentOf(c.chargeId)).map((p) => p.status)).to.deep.equal(['authorized']);
  });

  it('a redelivered payment replays its stored result and writes nothing more', async () => {
    const [c] = await invoicedCharges(knex(), 1, '70');
    const authorize = item(pay(c, 'authorize'));
    const [first] = await apply(knex(), 'payment', [authorize]);
    const [again, twin] = await apply(knex(), 'payment', [item(authorize.data, authorize.jobId!), item(authorize.data, authorize.jobId!)]);
    const resultOf = (o: typeof first) => (o as { result: Record<string, unknown> }).result;
    expect(resultOf(again)).to.deep.equal({ ...resultOf(first), replayed: true });
    expect(resultOf(twin)).to.deep.equal({ ...resultOf(first), replayed: true });
    expect(await paymentOf(c.chargeId)).to.have.length(1);
    expect((await journalOf(c.chargeId)).map((j) => j.outcome)).to.deep.equal(['applied', 'replayed', 'replayed']);
  });
});
