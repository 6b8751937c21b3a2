import { expect } from 'chai';
import { ulid } from 'ulid';
import { realizedCredits } from '../../src/db/balance';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, correction, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

describe('delete-charge', () => {
  const db = useTestDatabase('delete_charge');
  const h = useWorkerHarness('delete-charge', () => db().knex);
  const knex = () => db().knex;
  const charge = (id: string) => knex()('charge_flat_fees').where({ id }).first();
  const realizationsOf = (runId: string) =>
    knex()('charge_flat_fee_run_credit_allocations').where({ run_id: runId }).orderBy([{ column: 'created_at' }, { column: 'sort_hint' }]);

  async function create(overrides: Record<string, unknown> = {}) {
    const p = chargePayload(overrides);
    expect((await h().run('create-charge', p)).state).to.equal('completed');
    return p.id;
  }

  async function activated(overrides: Record<string, unknown> = {}) {
    const id = await create(overrides);
    const out = await h().run('activate-charge', { namespace: NS, chargeId: id });
    return { id, runId: out.result!.currentRunId as string };
  }

  it('reverses a fully allocated credit_only charge newest first: −10 then −20, sum 0, balance back to 0', async () => {
    const customerId = `cust-${ulid()}`;
    const { id, runId } = await activated({ customerId, amountBeforeProration: '30' });
    const alloc = await h().run('allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('20'), allocation('10')] });
    const [twenty, ten] = alloc.result!.realizationIds as string[];
    expect((await realizedCredits(knex(), NS, customerId, 'USD')).toFixed()).to.equal('30');

    const out = await h().run('delete-charge', { namespace: NS, chargeId: id, at: '2026-03-01T00:00:00Z' }, { idempotencyKey: 'del-1' });
    expect(out.state, out.failedReason ?? '').to.equal('completed');
    const rows = await realizationsOf(runId);
    const corrections = rows.filter((r) => r.type === 'correction').sort((a, b) => a.sort_hint - b.sort_hint);
    expect(corrections.map((r) => [r.amount, r.corrects_realization_id, r.sort_hint, r.transaction_group_id])).to.deep.equal([
      ['-10', ten, 0, 'del-1'],
      ['-20', twenty, 1, 'del-1'],
    ]);
    expect(out.result!.correctionIds).to.deep.equal(corrections.map((c) => c.id));
    const sum = rows.reduce((acc, r) => acc + Number(r.amount) * 100, 0);
    expect(sum).to.equal(0);
    const row = await charge(id);
    expect(row).to.deep.include({ status: 'deleted', status_detailed: 'deleted', current_realization_run_id: runId });
    expect(row.deleted_at.toISOString()).to.equal('2026-03-01T00:00:00.000Z');
    expect(await knex()('charge_flat_fee_runs').where({ id: runId }).first()).to.deep.include({ credits_total: '0', deleted_at: null });
    expect((await realizedCredits(knex(), NS, customerId, 'USD')).toFixed()).to.equal('0');
  });

  it('deletes a future credit_only charge (no run) with no correction and no run', async () => {
    const id = await create({ invoiceAt: '2099-01-01T00:00:00Z' });
    const out = await h().run('delete-charge', { namespace: NS, chargeId: id });
    expect(out.result).to.deep.include({ status: 'deleted', runId: null, correctionIds: [] });
    expect(await knex()('charge_flat_fee_runs').where({ charge_id: id })).to.have.length(0);
    expect((await charge(id)).status).to.equal('deleted');
  });

  it('reverses an allocation with an earlier partial correction only by its remainder', async () => {
    const { id, runId } = await activated({ settlementMode: 'credit_then_invoice' });
    const alloc = await h().run('allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('40')] });
    const [forty] = alloc.result!.realizationIds as string[];
    await h().run('allocate-credit', { namespace: NS, chargeId: id, realizations: [correction('-15', forty)] });
    await h().run('delete-charge', { namespace: NS, chargeId: id });
    const rows = await realizationsOf(runId);
    expect(rows.map((r) => [r.type, r.amount])).to.deep.equal([['allocation', '40'], ['correction', '-15'], ['correction', '-25']]);
  });

  it('with refundPolicy none leaves the allocations as they are', async () => {
    const { id, runId } = await activated({ settlementMode: 'credit_then_invoice' });
    await h().run('allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('40')] });
    const out = await h().run('delete-charge', { namespace: NS, chargeId: id, refundPolicy: 'none' });
    expect(out.result).to.deep.include({ refundPolicy: 'none', correctionIds: [] });
    expect((await realizationsOf(runId)).map((r) => r.amount)).to.deep.equal(['40']);
    expect((await charge(id)).status).to.equal('deleted');
  });

  it('replays, re-deletes as a no-op with the original result, and refuses later jobs with charge_deleted', async () => {
    const { id, runId } = await activated({ amountBeforeProration: '30' });
    await h().run('allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('30')] });
    const first = await h().run('delete-charge', { namespace: NS, chargeId: id }, { idempotencyKey: 'del-replay' });
    const replay = await h().run('delete-charge', { namespace: NS, chargeId: id }, { idempotencyKey: 'del-replay' });
    expect(replay.result).to.deep.equal({ ...first.result, replayed: true });
    const again = await h().run('delete-charge', { namespace: NS, chargeId: id }, { idempotencyKey: 'del-again' });
    expect(again.state).to.equal('completed');
    expect(again.result).to.deep.equal({ ...first.result, alreadyDeleted: true });
    expect(await realizationsOf(runId)).to.have.length(2);

    for (const [queue, payload] of [
      ['allocate-credit', { namespace: NS, chargeId: id, realizations: [allocation('1')] }],
      ['create-invoiced-usage', { namespace: NS, chargeId: id, lineId: ulid(), invoiceId: ulid(), servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' }, totals: { amount: '0', chargesTotal: '0', discountsTotal: '0', taxesInclusiveTotal: '0', taxesExclusiveTotal: '0', taxesTotal: '0', creditsTotal: '0', total: '0' } }],
      ['payment', { namespace: NS, chargeId: id, action: 'authorize', lineId: ulid(), invoiceId: ulid(), transactionGroupId: 'tg' }],
    ] as const) {
      const out = await h().run(queue, payload);
      expect(out.failedReason, queue).to.match(/^charge_deleted: /);
      expect(out.job.attemptsMade, queue).to.equal(1);
    }
  });
});
