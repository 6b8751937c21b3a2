import { expect } from 'chai';
import fc from 'fast-check';
import pino from 'pino';
import { ulid } from 'ulid';
import * as allocateCredit from '../../jobs/allocate-credit';
import * as createCharge from '../../jobs/create-charge';
import * as deleteCharge from '../../jobs/delete-charge';
import * as reprorateCharge from '../../jobs/reprorate-charge';
import * as activateCharge from '../../jobs/activate-charge';
import { explainCharge, renderExplanation } from '../../src/cli/explain';
import { loadHistory, renderHistory } from '../../src/cli/history';
import { realizedCredits } from '../../src/db/balance';
import { listEntriesOfCharge } from '../../src/db/journal';
import { getCharge } from '../../src/db/read-charge';
import { listReceipts } from '../../src/db/receipts';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS, totals } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

// A seat fee of 300 for a 30-day period, re-prorated when the customer cancels or changes mid-period.
const DAY = 24 * 3600 * 1000;
const START = Date.parse('2026-04-01T00:00:00Z');
const at = (days: number) => new Date(START + days * DAY).toISOString().replace('.000Z', 'Z');
const MONTH = { from: at(0), to: at(30) };
const seatFee = (overrides: Record<string, unknown> = {}) =>
  chargePayload({ customerId: `cust-${ulid()}`, amountBeforeProration: '300', invoiceAt: at(0), servicePeriod: MONTH, fullServicePeriod: MONTH, billingPeriod: MONTH, ...overrides });

describe('reprorate-charge: a charge re-prorated mid-period keeps its history', () => {
  const db = useTestDatabase('reprorate');
  const h = useWorkerHarness('reprorate', () => db().knex);
  const knex = () => db().knex;

  async function completed(queue: Parameters<ReturnType<typeof h>['run']>[0], payload: Record<string, unknown>, opts = {}) {
    const out = await h().run(queue, payload, opts);
    expect(out.state, out.failedReason ?? '').to.equal('completed');
    return out.result!;
  }
  const balance = async (customerId: string) => (await realizedCredits(knex(), NS, customerId, 'USD')).toFixed();
  const chargeRow = (id: string) => knex()('charge_flat_fees').where({ id }).first();

  it('a seat fee of 300 with 80 of credits, cancelled after 10 days: 100, credits released, 60 re-allocated, the invoice on the new run', async () => {
    // Given a credit_then_invoice seat fee of 300 for 30 days, 80 of it covered by credits
    const p = seatFee({ settlementMode: 'credit_then_invoice' });
    const created = await completed('create-charge', p);
    const oldRunId = created.currentRunId as string;
    const funded = await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('80')] });
    expect(await balance(p.customerId)).to.equal('80');

    // When the customer cancels after 10 days
    const out = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(10) } });

    // Then the charge is 100 on a new current run, and the 80 on the old run no longer count
    const newRunId = out.currentRunId as string;
    expect(out).to.deep.equal({ chargeId: p.id, previousRunId: oldRunId, currentRunId: newRunId, amountAfterProration: '100', releasedCredits: '80' });
    expect(newRunId).to.not.equal(oldRunId);
    expect(await chargeRow(p.id)).to.deep.include({ amount_before_proration: '300', amount_after_proration: '100', status: 'active', current_realization_run_id: newRunId });
    expect((await chargeRow(p.id)).service_period_to.toISOString()).to.equal('2026-04-11T00:00:00.000Z');
    expect(await balance(p.customerId)).to.equal('0');

    // And the ledger re-allocates 60 on the new run, and the invoice line lands there too
    await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('60')] });
    expect(await balance(p.customerId)).to.equal('60');
    const lineId = ulid();
    const usage = await completed('create-invoiced-usage', {
      namespace: NS, chargeId: p.id, lineId, invoiceId: ulid(), servicePeriod: { from: at(0), to: at(10) },
      totals: totals({ amount: '100', chargesTotal: '100', creditsTotal: '60', total: '40' }),
    });
    expect(usage.runId).to.equal(newRunId);

    // The old run is a prior run with its realization intact; the new one is current
    const view = await getCharge(knex(), NS, p.id, { expand: ['realizations'] });
    const { currentRun, priorRuns } = view!.realizations!;
    expect(currentRun!.id).to.equal(newRunId);
    expect(currentRun!.lineId).to.equal(lineId);
    expect(currentRun!.amountAfterProration.toFixed()).to.equal('100');
    expect(currentRun!.creditRealizations.map((r) => r.amount.toFixed())).to.deep.equal(['60']);
    expect(priorRuns.map((r) => r.id)).to.deep.equal([oldRunId]);
    expect(priorRuns[0].creditRealizations.map((r) => [r.id, r.amount.toFixed()])).to.deep.equal([[(funded.realizationIds as string[])[0], '80']]);
    expect(priorRuns[0].amountAfterProration.toFixed()).to.equal('300');
    expect(priorRuns[0].lineId).to.equal(null);

    // A receipt for each run, the new one with its exact ratio; the journal names both runs and the released credits
    const receipts = await listReceipts(knex(), NS, p.id);
    expect(receipts.map((r) => [r.runId, r.ratio, r.roundedAmount.toFixed()])).to.deep.equal([[oldRunId, receipts[0].ratio, '300'], [newRunId, '1/3', '100']]);
    const entry = (await listEntriesOfCharge(knex(), NS, p.id)).find((e) => e.queue === 'reprorate-charge')!;
    expect(entry).to.deep.include({ outcome: 'applied', runId: newRunId, runChange: { previousRunId: oldRunId, releasedCredits: '80' } });
    expect(entry.changes).to.deep.equal({ charge_flat_fees: { updated: 1 }, charge_flat_fee_runs: { inserted: 1 }, charge_flat_fee_proration_receipts: { inserted: 1 } });
    expect(renderHistory((await loadHistory(knex(), NS, p.id))!)).to.include(`${oldRunId} → ${newRunId} (released 80)`);
    const explanation = (await explainCharge(knex(), NS, p.id))!;
    expect(explanation).to.deep.include({ matches: true });
    expect(explanation.earlier.map((r) => r.runId)).to.deep.equal([oldRunId]);
    expect(renderExplanation(explanation)).to.include(`re-prorated from run ${oldRunId}`);
  });

  it('a credit_only charge re-prorated twice: final → active each time, two prior runs in SPEC order, funded by the exact new amount', async () => {
    const p = seatFee({ settlementMode: 'credit_only' });
    await completed('create-charge', p);
    const first = (await completed('activate-charge', { namespace: NS, chargeId: p.id, at: at(0) })).currentRunId as string;
    await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('300')] });
    expect((await chargeRow(p.id)).status).to.equal('final');

    const upgrade = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(20) } });
    expect(upgrade).to.deep.include({ previousRunId: first, amountAfterProration: '200', releasedCredits: '300' });
    expect((await chargeRow(p.id)).status).to.equal('active');
    // The old amount no longer fits the new run: one batch of exactly 200 does
    const wrong = await h().run('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('300')] });
    expect(wrong.failedReason).to.match(/^credit_allocations_do_not_match_total: /);
    await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('200')] });
    expect((await chargeRow(p.id)).status).to.equal('final');

    const cancel = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(10) } });
    expect(cancel).to.deep.include({ previousRunId: upgrade.currentRunId, amountAfterProration: '100', releasedCredits: '200' });
    expect((await chargeRow(p.id)).status).to.equal('active');
    expect(await balance(p.customerId)).to.equal('0');

    const view = await getCharge(knex(), NS, p.id, { expand: ['realizations'] });
    const { currentRun, priorRuns } = view!.realizations!;
    expect(currentRun!.id).to.equal(cancel.currentRunId);
    // SPEC §2: by service_period_to, then created_at: the 20-day run ends before the 30-day one
    expect(priorRuns.map((r) => [r.id, r.servicePeriod.to.toISOString(), r.creditRealizations.map((c) => c.amount.toFixed())])).to.deep.equal([
      [upgrade.currentRunId, '2026-04-21T00:00:00.000Z', ['200']],
      [first, '2026-05-01T00:00:00.000Z', ['300']],
    ]);
  });

  it('the same period and amount changes nothing; a charge with no run only gets its new period and amounts', async () => {
    const live = seatFee({ settlementMode: 'invoice_only' });
    const { currentRunId } = await completed('create-charge', live);
    // Sent as upstream would, through the typed producer client (validated before it is enqueued)
    const sameOut = await h().wait(await h().queues.reprorateCharge({ namespace: NS, chargeId: live.id, servicePeriod: MONTH, amountBeforeProration: '300' }));
    expect(h().workers.map((w) => w.name)).to.include('reprorate-charge');
    const same = sameOut.result!;
    expect(same).to.deep.equal({ chargeId: live.id, previousRunId: currentRunId, currentRunId, amountAfterProration: '300', releasedCredits: '0', unchanged: true });
    expect(await knex()('charge_flat_fee_runs').where({ charge_id: live.id })).to.have.length(1);
    expect(await listReceipts(knex(), NS, live.id)).to.have.length(1);
    // An invoice_only charge has no credits to release; a new price alone moves it to a new run
    const upgraded = await completed('reprorate-charge', { namespace: NS, chargeId: live.id, servicePeriod: MONTH, amountBeforeProration: '450' });
    expect(upgraded).to.deep.include({ previousRunId: currentRunId, amountAfterProration: '450', releasedCredits: '0' });
    expect((await knex()('charge_flat_fee_runs').where({ id: upgraded.currentRunId }).first())).to.deep.include({ amount_after_proration: '450', no_fiat_transaction_required: false });

    // A credit_only charge not yet active: no run to replace, the activation provisions one for the new amount
    const future = seatFee({ settlementMode: 'credit_only', invoiceAt: at(5) });
    await completed('create-charge', future);
    const priced = await completed('reprorate-charge', { namespace: NS, chargeId: future.id, servicePeriod: { from: at(5), to: at(30) }, amountBeforeProration: '600' });
    expect(priced).to.deep.equal({ chargeId: future.id, previousRunId: null, currentRunId: null, amountAfterProration: '500', releasedCredits: '0' });
    expect(await chargeRow(future.id)).to.deep.include({ status: 'created', current_realization_run_id: null, amount_before_proration: '600', amount_after_proration: '500' });
    const activated = await completed('activate-charge', { namespace: NS, chargeId: future.id, at: at(5) });
    expect((await knex()('charge_flat_fee_runs').where({ id: activated.currentRunId }).first()).amount_after_proration).to.equal('500');
  });

  it('refuses an invoiced current run and a period outside the full period at once, writing nothing; a replay answers as before', async () => {
    const p = seatFee({ settlementMode: 'credit_then_invoice' });
    const { currentRunId } = await completed('create-charge', p);
    const outside = await h().run('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(31) } });
    expect(outside.state).to.equal('failed');
    expect(outside.failedReason).to.match(/^validation_failed: servicePeriod: servicePeriod must lie within the charge's fullServicePeriod/);
    expect(outside.job.attemptsMade).to.equal(1);

    const key = { idempotencyKey: `rp-${ulid()}` };
    const first = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(15) }, ...key });
    const again = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(15) }, ...key });
    expect(again).to.deep.equal({ ...first, replayed: true });
    expect(await knex()('charge_flat_fee_runs').where({ charge_id: p.id }).pluck('id')).to.have.members([currentRunId, first.currentRunId]);

    await completed('create-invoiced-usage', {
      namespace: NS, chargeId: p.id, lineId: ulid(), invoiceId: ulid(), servicePeriod: { from: at(0), to: at(15) }, totals: totals({ amount: '150', chargesTotal: '150', total: '150' }),
    });
    const invoiced = await h().run('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(10) } });
    expect(invoiced.state).to.equal('failed');
    expect(invoiced.failedReason).to.match(/^current_run_invoiced: /);
    expect(invoiced.job.attemptsMade).to.equal(1);
    expect(await knex()('charge_flat_fee_runs').where({ charge_id: p.id })).to.have.length(2);
    expect((await chargeRow(p.id)).amount_after_proration).to.equal('150');
  });

  it('delete-charge after a re-proration corrects the current run only', async () => {
    const p = seatFee({ settlementMode: 'credit_then_invoice' });
    const { currentRunId: oldRunId } = await completed('create-charge', p);
    await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('80')] });
    const { currentRunId } = await completed('reprorate-charge', { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(10) } });
    await completed('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('60')] });
    const deleted = await completed('delete-charge', { namespace: NS, chargeId: p.id });
    expect(deleted.runId).to.equal(currentRunId);
    const amounts = (runId: unknown) => knex()('charge_flat_fee_run_credit_allocations').where({ run_id: runId }).orderBy('created_at').pluck('amount');
    expect(await amounts(currentRunId)).to.deep.equal(['60', '-60']);
    expect(await amounts(oldRunId)).to.deep.equal(['80']);
    expect(await balance(p.customerId)).to.equal('0');
  });
});

describe('reprorate-charge: property — realizedCredits is the live sum of the current run, never of a prior run', () => {
  const db = useTestDatabase('reprorate_property');
  const env = (jobId: string) => ({ knex: db().knex, logger: pino({ level: 'silent' }), job: null, jobId });
  type Op = { kind: 'allocate'; amount: number } | { kind: 'reprorate'; days: number } | { kind: 'delete' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('allocate' as const), amount: fc.integer({ min: 1, max: 120 }) }),
    fc.record({ kind: fc.constant('reprorate' as const), days: fc.integer({ min: 1, max: 30 }) }),
    fc.constant({ kind: 'delete' as const }),
  );

  it('any sequence of allocate, reprorate and delete jobs on one charge', async () => {
    const seed = Number(process.env.SEED) || Date.now() % 1_000_000;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('credit_then_invoice', 'credit_only'), fc.array(op, { minLength: 1, maxLength: 8 }), async (mode, ops) => {
        const knex = db().knex;
        const p = seatFee({ settlementMode: mode });
        await applyJob(createCharge, p, env(`c-${p.id}`));
        if (mode === 'credit_only') await applyJob(activateCharge, { namespace: NS, chargeId: p.id, at: at(0) }, env(`a-${p.id}`));
        const priorRealizations = new Map<string, string[]>();
        for (const [i, o] of ops.entries()) {
          const jobId = `${o.kind}-${i}-${p.id}`;
          const payload =
            o.kind === 'allocate'
              ? { namespace: NS, chargeId: p.id, realizations: [allocation(String(o.amount))] }
              : o.kind === 'reprorate'
                ? { namespace: NS, chargeId: p.id, servicePeriod: { from: at(0), to: at(o.days) } }
                : { namespace: NS, chargeId: p.id };
          const job = o.kind === 'allocate' ? allocateCredit : o.kind === 'reprorate' ? reprorateCharge : deleteCharge;
          await applyJob(job, payload, env(jobId)).catch(() => undefined);
          const charge = await knex('charge_flat_fees').where({ id: p.id }).first();
          const rows = await knex('charge_flat_fee_run_credit_allocations as a')
            .join('charge_flat_fee_runs as r', 'r.id', 'a.run_id')
            .where('r.charge_id', p.id)
            .whereNull('a.deleted_at')
            .orderBy(['a.created_at', 'a.sort_hint'])
            .select('a.run_id', 'a.id', 'a.amount');
          const live = rows.filter((r) => r.run_id === charge.current_realization_run_id).reduce((sum, r) => sum + Number(r.amount), 0);
          if ((await realizedCredits(knex, NS, p.customerId, 'USD')).toFixed() !== String(live)) return false;
          // A prior run keeps exactly what it had realized when it stopped being current
          const runs = await knex('charge_flat_fee_runs').where({ charge_id: p.id }).pluck('id');
          for (const runId of runs.filter((id: string) => id !== charge.current_realization_run_id)) {
            const now = rows.filter((r) => r.run_id === runId).map((r) => `${r.id}:${r.amount}`);
            const before = priorRealizations.get(runId);
            if (before && before.join() !== now.join()) return false;
            priorRealizations.set(runId, now);
          }
        }
        return true;
      }),
      { numRuns: 40, seed },
    );
  });
});
