import { expect } from 'chai';
import { ulid } from 'ulid';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

describe('create-charge and activate-charge through the worker', () => {
  const db = useTestDatabase('create_activate');
  const h = useWorkerHarness('create-activate', () => db().knex);

  const chargeRow = (id: string) => db().knex('charge_flat_fees').where({ id }).first();
  const runsOf = (chargeId: string) => db().knex('charge_flat_fee_runs').where({ charge_id: chargeId }).orderBy('created_at');

  it('creates a credit_only charge as created, with no run', async () => {
    const p = chargePayload();
    const out = await h().run('create-charge', p);
    expect(out.state).to.equal('completed');
    expect(out.result).to.deep.include({ chargeId: p.id, status: 'created', currentRunId: null, amountAfterProration: '100' });
    const row = await chargeRow(p.id);
    expect(row).to.deep.include({ status: 'created', status_detailed: 'created', settlement_mode: 'credit_only', current_realization_run_id: null, amount_after_proration: '100', pro_rating: 'prorate_prices' });
    expect(await runsOf(p.id)).to.have.length(0);
  });

  for (const mode of ['invoice_only', 'credit_then_invoice']) {
    it(`creates a ${mode} charge active with its current run in the same transaction`, async () => {
      const p = chargePayload({ settlementMode: mode });
      const out = await h().run('create-charge', p);
      const row = await chargeRow(p.id);
      const runs = await runsOf(p.id);
      expect(row.status).to.equal('active');
      expect(runs).to.have.length(1);
      expect(row.current_realization_run_id).to.equal(runs[0].id);
      expect(out.result!.currentRunId).to.equal(runs[0].id);
      expect(runs[0]).to.deep.include({
        type: 'final_realization',
        initial_type: 'final_realization',
        amount_after_proration: '100',
        line_id: null,
        invoice_id: null,
        no_fiat_transaction_required: false,
        amount: '0',
        charges_total: '0',
        credits_total: '0',
        total: '0',
      });
      expect(runs[0].service_period_from.toISOString()).to.equal('2026-01-01T00:00:00.000Z');
    });
  }

  it('prorates at creation: $100, 15 of 29 days → 51.72', async () => {
    const p = chargePayload({
      servicePeriod: { from: '2026-02-01T00:00:00Z', to: '2026-02-16T00:00:00Z' },
      fullServicePeriod: { from: '2026-02-01T00:00:00Z', to: '2026-03-02T00:00:00Z' },
    });
    await h().run('create-charge', p);
    expect((await chargeRow(p.id)).amount_after_proration).to.equal('51.72');
  });

  it('marks a zero-amount invoice charge as needing no fiat transaction', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only', amountBeforeProration: '0' });
    await h().run('create-charge', p);
    expect((await runsOf(p.id))[0].no_fiat_transaction_required).to.equal(true);
  });

  it('delays an early activation until invoiceAt, then activates as of invoiceAt with a no-fiat run', async () => {
    const p = chargePayload();
    await h().run('create-charge', p);
    // invoiceAt (2026-01-01) is already past on this machine's clock, so the delay is due at once.
    const out = await h().run('activate-charge', { namespace: NS, chargeId: p.id, at: '2025-12-15T00:00:00Z' });
    expect(out.state).to.equal('completed');
    expect(out.job.progress).to.deep.equal({ delayedUntil: '2026-01-01T00:00:00.000Z' });
    expect(out.result).to.deep.include({ status: 'active', activatedAt: '2026-01-01T00:00:00.000Z', provisioned: true });
    const runs = await runsOf(p.id);
    expect(runs).to.have.length(1);
    expect(runs[0].no_fiat_transaction_required).to.equal(true);
    expect((await chargeRow(p.id)).status).to.equal('active');
  });

  it('keeps a job whose invoiceAt is in the future in the delayed state', async () => {
    const p = chargePayload({ invoiceAt: '2099-01-01T00:00:00Z' });
    await h().run('create-charge', p);
    const job = await h().add('activate-charge', { namespace: NS, chargeId: p.id });
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10000;
      const poll = async () => {
        const state = await job.getState();
        if (state === 'delayed') return resolve();
        if (Date.now() > deadline) return reject(new Error(`job stayed ${state}`));
        setTimeout(poll, 25);
      };
      void poll();
    });
    const delayed = await h().queues.queue('activate-charge').getJob(job.id!);
    expect(delayed!.delay + delayed!.timestamp).to.be.closeTo(Date.parse('2099-01-01T00:00:00Z'), 1000);
    expect((await chargeRow(p.id)).status).to.equal('created');
    expect(await runsOf(p.id)).to.have.length(0);
    await delayed!.remove();
  });

  it('activates at or after invoiceAt at once; a second activation returns the same run', async () => {
    const p = chargePayload();
    await h().run('create-charge', p);
    const first = await h().run('activate-charge', { namespace: NS, chargeId: p.id, at: '2026-01-01T00:00:00Z' });
    expect(first.job.progress).to.equal(0);
    const second = await h().run('activate-charge', { namespace: NS, chargeId: p.id });
    expect(second.result).to.deep.include({ currentRunId: first.result!.currentRunId, provisioned: false, status: 'active' });
    expect(await runsOf(p.id)).to.have.length(1);
  });

  it('provisions a missing run for an invoice-mode charge and keeps an existing one', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const created = await h().run('create-charge', p);
    const again = await h().run('activate-charge', { namespace: NS, chargeId: p.id });
    expect(again.result).to.deep.include({ currentRunId: created.result!.currentRunId, provisioned: false });
  });

  it('fails an activation for an unknown charge at once with charge_not_found', async () => {
    const out = await h().run('activate-charge', { namespace: NS, chargeId: ulid() });
    expect(out.state).to.equal('failed');
    expect(out.failedReason).to.match(/^charge_not_found: /);
    expect(out.job.attemptsMade).to.equal(1);
  });
});
