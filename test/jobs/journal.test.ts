import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import pino from 'pino';
import * as allocateCredit from '../../jobs/allocate-credit';
import { loadHistory, renderHistory } from '../../src/cli/history';
import { jobKey, payloadHash } from '../../src/db/idempotency';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS, totals } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');

describe('effect journal', () => {
  const db = useTestDatabase('journal');
  const h = useWorkerHarness('journal', () => db().knex);
  const journalOf = (chargeId: string) => db().knex('flat_fee_job_journal').where({ namespace: NS, charge_id: chargeId }).orderBy('id');
  const count = async (table: string, where: Record<string, string> = {}) => Number((await db().knex(table).where(where).count({ n: '*' }).first())!.n);
  const hundred = totals({ amount: '100', chargesTotal: '100', creditsTotal: '100' });

  /** given a credit_only charge of 100, activated: the run exists with zero totals. */
  async function activeCreditOnlyCharge() {
    const p = chargePayload();
    await h().run('create-charge', p);
    const activated = await h().run('activate-charge', { namespace: NS, chargeId: p.id, at: '2026-01-01T00:00:00Z' });
    return { chargeId: p.id, runId: activated.result!.currentRunId as string };
  }

  it('journals an applied create-charge with the rows it wrote, in the effect transaction', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const out = await h().run('create-charge', p);
    const [row] = await journalOf(p.id);
    expect(row).to.deep.include({
      queue: 'create-charge',
      job_id: out.job.id,
      attempt: 1,
      idempotency_key: jobKey(out.job.id!, out.job.timestamp),
      payload_hash: payloadHash(p),
      run_id: out.result!.currentRunId,
      outcome: 'applied',
      error_code: null,
      totals_before: null,
      totals_after: totals(),
    });
    // The charge is inserted, then pointed at its run (an update): both are on record.
    expect(row.changes).to.deep.equal({
      charge_flat_fees: { inserted: 1, updated: 1 },
      charge_flat_fee_runs: { inserted: 1 },
      charge_flat_fee_proration_receipts: { inserted: 1 },
    });
    expect(row.finished_at.getTime()).to.be.at.least(row.started_at.getTime());
  });

  it('journals one applied allocation, then three replays of it that change nothing', async () => {
    const { chargeId, runId } = await activeCreditOnlyCharge();
    const payload = { namespace: NS, chargeId, realizations: [allocation('100')] };
    const first = await h().run('allocate-credit', payload, { idempotencyKey: 'alloc-1' });
    const snapshot = async () => ({
      realizations: await db().knex('charge_flat_fee_run_credit_allocations').where({ run_id: runId }).select('id', 'amount'),
      run: await db().knex('charge_flat_fee_runs').where({ id: runId }).first(),
      charge: await db().knex('charge_flat_fees').where({ id: chargeId }).first(),
    });
    const afterFirst = await snapshot();
    // when the same job is delivered three more times (new BullMQ jobs, same key and payload)
    for (let i = 0; i < 3; i++) expect((await h().run('allocate-credit', payload, { idempotencyKey: 'alloc-1' })).result!.replayed).to.equal(true);
    // then the data is exactly as after the first delivery, and the journal says so
    expect(await snapshot()).to.deep.equal(afterFirst);
    const rows = (await journalOf(chargeId)).filter((r) => r.queue === 'allocate-credit');
    expect(rows.map((r) => r.outcome)).to.deep.equal(['applied', 'replayed', 'replayed', 'replayed']);
    expect(rows[0]).to.deep.include({ job_id: first.job.id, run_id: runId, totals_before: totals(), totals_after: hundred });
    expect(rows[0].changes).to.deep.equal({
      charge_flat_fees: { updated: 1 },
      charge_flat_fee_runs: { updated: 1 },
      charge_flat_fee_run_credit_allocations: { inserted: 1 },
    });
    for (const replay of rows.slice(1)) {
      expect(replay).to.deep.include({ idempotency_key: 'alloc-1', run_id: runId, changes: {}, totals_before: null, totals_after: null, error_code: null });
      expect(replay.job_id).to.not.equal(first.job.id);
    }
  });

  it('journals a rejected job with its code and leaves no effect', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const created = await h().run('create-charge', p);
    const out = await h().run('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('10')] });
    expect(out.failedReason).to.match(/^credits_not_allowed: /);
    expect(await count('charge_flat_fee_run_credit_allocations', { run_id: created.result!.currentRunId })).to.equal(0);
    expect(await count('flat_fee_idempotency_keys', { key: out.job.id! })).to.equal(0);
    const [, rejected] = await journalOf(p.id);
    expect(rejected).to.deep.include({
      queue: 'allocate-credit',
      job_id: out.job.id,
      attempt: 1,
      outcome: 'rejected',
      error_code: 'credits_not_allowed',
      run_id: created.result!.currentRunId,
      changes: {},
      totals_before: null,
      totals_after: null,
    });
    expect(rejected.error_message).to.match(/^credits_not_allowed: /);
  });

  it('journals a key reused with another payload as rejected, next to the applied original', async () => {
    const { chargeId } = await activeCreditOnlyCharge();
    await h().run('allocate-credit', { namespace: NS, chargeId, realizations: [allocation('100')] }, { idempotencyKey: 'reused' });
    const out = await h().run('allocate-credit', { namespace: NS, chargeId, realizations: [allocation('99')] }, { idempotencyKey: 'reused' });
    expect(out.failedReason).to.match(/^idempotency_key_conflict: /);
    const rows = (await journalOf(chargeId)).filter((r) => r.idempotency_key === 'reused');
    expect(rows.map((r) => [r.outcome, r.error_code])).to.deep.equal([
      ['applied', null],
      ['rejected', 'idempotency_key_conflict'],
    ]);
    expect(rows[0].payload_hash).to.not.equal(rows[1].payload_hash);
  });

  it('names the charge a create-charge without an id created, from its result', async () => {
    const { id: _id, ...p } = chargePayload({ settlementMode: 'invoice_only' });
    const out = await h().run('create-charge', p);
    const rows = await journalOf(out.result!.chargeId);
    expect(rows.map((r) => [r.job_id, r.outcome, r.run_id])).to.deep.equal([[out.job.id, 'applied', out.result!.currentRunId]]);
  });

  it('journals each failed attempt of a retried precondition, and validation failures too', async () => {
    const p = chargePayload();
    await h().run('create-charge', p);
    // credit_only and not yet activated: no current run, retried (3 attempts in tests), then failed
    const early = await h().run('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('100')] });
    expect(early.failedReason).to.match(/^current_run_required: /);
    const invalid = await h().run('allocate-credit', { namespace: NS, chargeId: p.id, realizations: [allocation('-1')] });
    const rows = (await journalOf(p.id)).filter((r) => r.queue === 'allocate-credit');
    expect(rows.map((r) => [r.job_id, r.attempt, r.error_code])).to.deep.equal([
      [early.job.id, 1, 'current_run_required'],
      [early.job.id, 2, 'current_run_required'],
      [early.job.id, 3, 'current_run_required'],
      [invalid.job.id, 1, 'validation_failed'],
    ]);
  });

  it('journals a rejection when applyJob is called without a worker (no job, no listener)', async () => {
    const p = chargePayload();
    await h().run('create-charge', p);
    const env = { knex: db().knex, logger: pino({ level: 'silent' }), job: null, jobId: 'direct-1' };
    await expect(applyJob(allocateCredit, { namespace: NS, chargeId: p.id, realizations: [allocation('100')] }, env)).to.be.rejectedWith(/^current_run_required/);
    const [, rejected] = await journalOf(p.id);
    expect(rejected).to.deep.include({ job_id: 'direct-1', attempt: null, outcome: 'rejected', error_code: 'current_run_required', run_id: null });
  });

  it('journals the rejection of a payload PostgreSQL text cannot hold (a NUL byte)', async () => {
    const out = await h().run('allocate-credit', { namespace: NS, chargeId: 'bad\u0000id', realizations: [allocation('1')] });
    expect(out.failedReason).to.match(/^validation_failed: chargeId/);
    const rows = await db().knex('flat_fee_job_journal').where({ job_id: out.job.id, queue: 'allocate-credit' });
    expect(rows.map((r) => [r.charge_id, r.outcome, r.error_code])).to.deep.equal([['bad\uFFFDid', 'rejected', 'validation_failed']]);
  });

  it('copies the summary to the job log shown in Bull Board', async () => {
    const { chargeId, runId } = await activeCreditOnlyCharge();
    const out = await h().run('allocate-credit', { namespace: NS, chargeId, realizations: [allocation('100')] });
    const { logs } = await h().queues.queue('allocate-credit').getJobLogs(out.job.id!);
    expect(logs).to.deep.equal([
      `journal: applied attempt=1 key=${jobKey(out.job.id!, out.job.timestamp)} charge=${chargeId} run=${runId} changed: charges ~1, runs ~1, credit_allocations +1; ` +
        'totals: amount 0→100, chargesTotal 0→100, creditsTotal 0→100',
    ]);
  });

  it('shows the timeline oldest first with the totals each job moved', async () => {
    const { chargeId, runId } = await activeCreditOnlyCharge();
    const payload = { namespace: NS, chargeId, realizations: [allocation('100')] };
    await h().run('allocate-credit', payload, { idempotencyKey: 'once' });
    await h().run('allocate-credit', payload, { idempotencyKey: 'once' });
    await h().run('allocate-credit', { namespace: NS, chargeId, realizations: [allocation('1')] });
    const history = (await loadHistory(db().knex, NS, chargeId))!;
    expect(history.entries.map((e) => [e.queue, e.outcome, e.errorCode])).to.deep.equal([
      ['create-charge', 'applied', null],
      ['activate-charge', 'applied', null],
      ['allocate-credit', 'applied', null],
      ['allocate-credit', 'replayed', null],
      ['allocate-credit', 'rejected', 'charge_not_active'],
    ]);
    expect(history.entries[2].moved).to.deep.equal([
      { key: 'amount', from: '0', to: '100' },
      { key: 'chargesTotal', from: '0', to: '100' },
      { key: 'creditsTotal', from: '0', to: '100' },
    ]);
    const text = renderHistory(history).split('\n');
    expect(text[0]).to.equal(`charge ${chargeId} (${NS}): 5 journal entries, oldest first`);
    expect(text[1].split(/\s{2,}/)).to.deep.equal(['#', 'finished (UTC)', 'queue', 'job', 'try', 'outcome', 'run', 'changed', 'totals moved']);
    expect(text[2]).to.match(/create-charge .* applied +- +charges \+1, proration_receipts \+1 +-$/);
    expect(text[3]).to.match(new RegExp(`activate-charge .* applied +${runId} +charges ~2, runs \\+1 +-$`));
    expect(text[4]).to.match(/allocate-credit .* applied .* charges ~1, runs ~1, credit_allocations \+1 +amount 0→100, chargesTotal 0→100, creditsTotal 0→100$/);
    expect(text[5]).to.match(/allocate-credit .* replayed +\S+ +- +-$/);
    expect(text[6]).to.match(/allocate-credit .* rejected charge_not_active +\S+ +- +-$/);
  });

  it('prints the same history as JSON from the CLI', async function () {
    this.timeout(20000);
    const { chargeId } = await activeCreditOnlyCharge();
    const { stdout } = await promisify(execFile)('node', [BIN, 'history', NS, chargeId, '--json'], {
      env: { ...process.env, DATABASE_URL: db().url, LOG_LEVEL: 'silent' },
    });
    const printed = JSON.parse(stdout);
    expect(printed).to.deep.equal(JSON.parse(JSON.stringify(await loadHistory(db().knex, NS, chargeId))));
    expect(printed.entries.map((e: { outcome: string }) => e.outcome)).to.deep.equal(['applied', 'applied']);
  });

  it('keeps journal rows append-only, and alive as long as their charge', async () => {
    const { chargeId } = await activeCreditOnlyCharge();
    const table = () => db().knex('flat_fee_job_journal').where({ charge_id: chargeId });
    await expect(table().update({ outcome: 'replayed' })).to.be.rejectedWith(/append-only/);
    await expect(table().delete()).to.be.rejectedWith(/live as long as their charge/);
    await db().knex('charge_flat_fees').where({ id: chargeId }).delete();
    expect(await table().delete()).to.equal(2);
  });
});
