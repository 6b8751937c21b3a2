import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { Job, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import pino from 'pino';
import * as activateCharge from '../../jobs/activate-charge';
import * as createCharge from '../../jobs/create-charge';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/queues/connection';
import { FlatFeeQueues } from '../../src/queues/producer';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS, totals } from '../helpers/fixtures';
import { dropPrefix, testPrefix } from '../helpers/queue';

const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');
const QUEUE = 'allocate-credit';
const { redisUrl } = loadConfig();

interface ChildWorker {
  child: ChildProcess;
  exited: Promise<unknown>;
  fault: Promise<{ fault: string; jobId: string }>;
}

describe('effect journal when a worker is SIGKILLed before COMMIT', () => {
  const db = useTestDatabase('journal_kill');
  const prefix = testPrefix('journal-kill');
  const children: ChildWorker[] = [];
  let queues: FlatFeeQueues;
  let events: QueueEvents;

  before(async () => {
    queues = new FlatFeeQueues({ redisUrl, prefix, defaultJobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 20 } } });
    events = new QueueEvents(QUEUE, { connection: redisOptions(redisUrl, 'worker'), prefix });
    await events.waitUntilReady();
  });

  // A worker left running would take the next test's job before its fault-injected worker does.
  afterEach(async function () {
    this.timeout(20000);
    for (const w of children.splice(0)) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
  });

  after(async function () {
    this.timeout(20000);
    await events.close();
    await queues.close();
    await dropPrefix(prefix);
  });

  /** The real bin, as in production: `node bin/flatfee-worker.js worker` on this test's database and prefix. */
  function startWorker(fault = ''): ChildWorker {
    const child = spawn(process.execPath, [BIN, 'worker'], {
      env: { ...process.env, DATABASE_URL: db().url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'warn', FLATFEE_FAULT: fault },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const worker = {
      child,
      exited: new Promise((resolve) => child.once('exit', resolve)),
      fault: new Promise<{ fault: string; jobId: string }>((resolve) => child.once('message', (m) => resolve(m as { fault: string; jobId: string }))),
    };
    children.push(worker);
    return worker;
  }

  /**
   * A killed worker's job stays active until its lock (30 s) expires and two stalled checks pass.
   * Drop the dead lock and run the checks from here at 100 ms, so the test does not wait for that.
   */
  async function rescueStalled(job: Job): Promise<void> {
    const redis = new IORedis(redisUrl);
    await redis.del(`${prefix}:${QUEUE}:${job.id}:lock`, `${prefix}:${QUEUE}:stalled-check`);
    redis.disconnect();
    const rescuer = new Worker(QUEUE, null, { connection: redisOptions(redisUrl, 'worker'), prefix, autorun: false, stalledInterval: 100 });
    void rescuer.startStalledCheckTimer();
    const deadline = Date.now() + 10000;
    while ((await job.getState()) !== 'waiting') {
      if (Date.now() > deadline) throw new Error(`job ${job.id} was not moved back to wait`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await rescuer.close();
  }

  /** given an active credit_only charge of 100 with its run */
  async function activeCharge() {
    const knex = db().knex;
    const env = (jobId: string) => ({ knex, logger: pino({ level: 'silent' }), job: null, jobId });
    const p = chargePayload();
    await applyJob(createCharge, p, env(`setup-create-${p.id}`));
    const { currentRunId } = await applyJob(activateCharge, { namespace: NS, chargeId: p.id, at: '2026-01-01T00:00:00Z' }, env(`setup-activate-${p.id}`));
    return {
      chargeId: p.id,
      journal: () => knex('flat_fee_job_journal').where({ charge_id: p.id, queue: QUEUE }).orderBy('id'),
      allocations: () => knex('charge_flat_fee_run_credit_allocations').where({ run_id: currentRunId as string }),
      runId: currentRunId as string,
    };
  }

  /** Enqueues the allocation, lets a worker reach the fault point with it, and SIGKILLs it there. */
  async function killAt(point: string, chargeId: string, jobId: string): Promise<Job> {
    const job = await queues.queue(QUEUE).add(QUEUE, { namespace: NS, chargeId, realizations: [allocation('100')] }, { jobId });
    const worker = startWorker(`${point}:${QUEUE}`);
    const noFault = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${point} fault within 20 s`)), 20000).unref());
    expect(await Promise.race([worker.fault, noFault])).to.deep.include({ fault: point, jobId });
    worker.child.kill('SIGKILL');
    await worker.exited;
    return job;
  }

  it('has no applied row for the killed delivery, and its re-run applies once', async function () {
    this.timeout(60000);
    const knex = db().knex;
    const { chargeId, journal, allocations, runId } = await activeCharge();

    // when a worker stops just before COMMIT of the allocation and is SIGKILLed there
    const job = await killAt('before_commit', chargeId, 'alloc-killed');

    // then nothing of that delivery is on record: no applied row, no allocation, no idempotency key
    expect(await journal()).to.deep.equal([]);
    expect(await allocations()).to.deep.equal([]);
    expect(await knex('flat_fee_idempotency_keys').where({ queue: QUEUE })).to.deep.equal([]);

    // when the job is redelivered to a fresh worker
    await rescueStalled(job);
    startWorker();
    await job.waitUntilFinished(events, 30000);

    // then it applied exactly once, journaled as the second delivery of the same job
    const rows = await journal();
    expect(rows.map((r) => [r.job_id, r.attempt, r.outcome])).to.deep.equal([['alloc-killed', 2, 'applied']]);
    expect(rows[0]).to.deep.include({ totals_before: totals(), totals_after: totals({ amount: '100', chargesTotal: '100', creditsTotal: '100' }) });
    expect((await allocations()).map((a) => a.amount)).to.deep.equal(['100']);
    expect((await knex('charge_flat_fee_runs').where({ id: runId }).first()).credits_total).to.equal('100');
  });

  it('journals the redelivery of a job killed after COMMIT as a replay that changed nothing', async function () {
    this.timeout(60000);
    const { chargeId, journal, allocations } = await activeCharge();

    // when a worker is SIGKILLed after COMMIT but before BullMQ heard of the outcome
    const job = await killAt('after_commit', chargeId, 'alloc-committed');
    expect((await journal()).map((r) => [r.job_id, r.attempt, r.outcome])).to.deep.equal([['alloc-committed', 1, 'applied']]);

    // then the redelivery is recognised: one replayed row, still one allocation
    await rescueStalled(job);
    startWorker();
    expect(await job.waitUntilFinished(events, 30000)).to.deep.include({ replayed: true });
    const rows = await journal();
    expect(rows.map((r) => [r.job_id, r.attempt, r.outcome])).to.deep.equal([
      ['alloc-committed', 1, 'applied'],
      ['alloc-committed', 2, 'replayed'],
    ]);
    expect(rows[1]).to.deep.include({ changes: {}, totals_before: null, totals_after: null });
    expect(await allocations()).to.have.length(1);
  });
});
