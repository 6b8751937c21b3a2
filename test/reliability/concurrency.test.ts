import { expect } from 'chai';
import Decimal from 'decimal.js';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { enqueueAll, jobsIn, PlannedJob, waitForFinished } from '../helpers/flow';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { startWorkerProcess, WorkerProcess } from '../helpers/worker-process';

// Concurrency: allocations race on one credit_then_invoice charge from two processes. The charge's
// row lock must serialize them, so credit never exceeds the charge and the losers fail with their code.

const NS = 'ns-conc';
const JOBS = 50;

describe('reliability: concurrent allocations on one charge', function () {
  this.timeout(90000);
  const db = useTestDatabase('concurrency');
  const redisUrl = loadConfig().redisUrl;
  const prefix = testPrefix('conc');
  let queues: FlatFeeQueues;
  const workers: WorkerProcess[] = [];

  before(() => {
    queues = new FlatFeeQueues({ redisUrl, prefix, defaultJobOptions: { attempts: 10, backoff: { type: 'fixed', delay: 50 }, removeOnComplete: false, removeOnFail: false } });
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await queues.close();
    await dropPrefix(prefix);
  });

  /** Most worker sessions seen waiting on a lock at once while the jobs run. */
  async function sampleLockWaits(until: Promise<unknown>): Promise<number> {
    let done = false;
    void until.finally(() => (done = true));
    let most = 0;
    while (!done) {
      const { rows } = await db().knex.raw(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'flatfee-worker' AND wait_event_type = 'Lock'`,
      );
      most = Math.max(most, rows[0].n);
      await new Promise((r) => setTimeout(r, 5));
    }
    return most;
  }

  it(`${JOBS} allocations from two processes never exceed the charge; the excess fails with its code`, async () => {
    // Given a $100 credit_then_invoice charge and two worker processes with 25 slots each
    const charge = chargePayload({ namespace: NS, settlementMode: 'credit_then_invoice', amountBeforeProration: '100' });
    for (let i = 0; i < 2; i++) workers.push(await startWorkerProcess({ databaseUrl: db().url, redisUrl, prefix, concurrency: 25 }));
    await enqueueAll(queues, [{ queue: 'create-charge', data: charge, jobId: 'create' }]);
    await waitForFinished(queues, 1, { timeoutMs: 20000 });

    // When 50 allocations of 1.01 to 10.10 (275.50 in all) arrive at once
    const amounts = Array.from({ length: JOBS }, (_, i) => new Decimal((i % 10) + 1).mul('1.01').toFixed());
    const jobs: PlannedJob[] = amounts.map((amount, i) => ({
      queue: 'allocate-credit',
      jobId: `alloc-${i}`,
      data: { namespace: NS, chargeId: charge.id, realizations: [{ type: 'allocation', amount, transactionGroupId: `tg-${i}` }] },
    }));
    await enqueueAll(queues, jobs);
    const finished = waitForFinished(queues, JOBS + 1, { timeoutMs: 60000 });
    const lockWaits = await sampleLockWaits(finished);
    await finished;

    // Then the winners' credit is at most $100 and is exactly what the rows hold
    const completed = await jobsIn(queues.queue('allocate-credit'), 'completed');
    const failed = await jobsIn(queues.queue('allocate-credit'), 'failed');
    expect(completed.length + failed.length).to.equal(JOBS);
    const amountOf = (j: { data: { realizations: Array<{ amount: string }> } }) => new Decimal(j.data.realizations[0].amount);
    const allocated = completed.reduce((s, j) => s.plus(amountOf(j)), new Decimal(0));
    expect(allocated.lte(100), `allocated ${allocated.toFixed()}`).to.equal(true);
    const rows = await db().knex('charge_flat_fee_run_credit_allocations').where({ namespace: NS }).select('transaction_group_id', 'amount');
    expect(rows.map((r) => r.transaction_group_id).sort()).to.deep.equal(completed.map((j) => j.data.realizations[0].transactionGroupId).sort());
    const stored = rows.reduce((s, r) => s.plus(r.amount), new Decimal(0));
    expect(stored.toFixed()).to.equal(allocated.toFixed());

    // And every loser failed at once with credit_allocations_exceed_total, because it really did not fit
    expect(failed.length).to.be.greaterThan(0);
    for (const job of failed) {
      expect(job.failedReason).to.match(/^credit_allocations_exceed_total: /);
      expect(job.attemptsMade).to.equal(1);
      expect(allocated.plus(amountOf(job)).gt(100), `job ${job.id} would have fit`).to.equal(true);
    }
    // Deadlocks or serialization failures, had there been any, were retried to success: no other failure
    const retriedToSuccess = completed.filter((j) => j.attemptsMade > 1 || (j.attemptsStarted ?? 0) > 1).length;
    // lockWaits is reported, not asserted: a 5 ms sample can miss the waits on a loaded machine. That the
    // race is real shows without the lock: this test then allocates about 148 against 100.
    const handledBy = workers.map((w) => (w.recentLog().match(/"queue":"allocate-credit"/g) ?? []).length);
    expect(handledBy.every((n) => n > 0), `allocations handled per process: ${handledBy}`).to.equal(true);
    process.stderr.write(`      ${completed.length} allocated (${allocated.toFixed()}), ${failed.length} refused, ${retriedToSuccess} retried to success, up to ${lockWaits} sessions waiting on the charge lock\n`);
  });
});
