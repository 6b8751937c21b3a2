import { expect } from 'chai';
import { Job, QueueEvents, Worker } from 'bullmq';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/queues/connection';
import { FlatFeeQueues } from '../../src/queues/producer';
import { startWorkers, stopWorkers } from '../../src/queues/worker';
import { useTestDatabase } from '../helpers/db';
import { dropPrefix, FAST_RETRY, testPrefix } from '../helpers/queue';
import { ulid } from 'ulid';
import { allocate as allocatePayload, chargesWithRuns, failNextAllocateCommits, silent } from './helpers';

// BullMQ job ids restart at 1 on each test's prefix while the database is the file's: keys are explicit.
const allocate = (chargeId: string, amount: string) => allocatePayload(chargeId, amount, { idempotencyKey: ulid() });

const config = loadConfig();

describe('batched worker: BullMQ deliveries grouped into transactions', () => {
  const db = useTestDatabase('batch_worker');
  let prefix: string;
  let queues: FlatFeeQueues;
  let events: QueueEvents;
  let workers: Worker[];

  beforeEach(async () => {
    prefix = testPrefix('batch');
    queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix, defaultJobOptions: FAST_RETRY });
    // 50 waitUntilFinished at once add a listener each: expected here, not a leak.
    queues.queue('allocate-credit').setMaxListeners(200);
    events = new QueueEvents('allocate-credit', { connection: redisOptions(config.redisUrl, 'worker'), prefix });
    events.setMaxListeners(200);
    await events.waitUntilReady();
  });

  afterEach(async () => {
    await stopWorkers(workers, 10000, silent);
    await events.close();
    await queues.close();
    await dropPrefix(prefix);
  });

  async function start(batchSize: number) {
    workers = startWorkers({ knex: db().knex, logger: silent, redisUrl: config.redisUrl, prefix, concurrency: 4, queues: ['allocate-credit'], batchSize });
    await Promise.all(workers.map((w) => w.waitUntilReady()));
  }

  async function finish(jobs: Job[]) {
    await Promise.all(jobs.map((j) => j.waitUntilFinished(events).catch(() => null)));
    return Promise.all(jobs.map(async (j) => {
      const fresh = (await Job.fromId(queues.queue('allocate-credit'), j.id!))!;
      return { state: await fresh.getState(), reason: fresh.failedReason ?? null, attemptsMade: fresh.attemptsMade };
    }));
  }

  const realizationCount = (chargeIds: string[]) =>
    db().knex('charge_flat_fee_run_credit_allocations as a').join('charge_flat_fee_runs as r', 'r.id', 'a.run_id').whereIn('r.charge_id', chargeIds).count<{ count: string }[]>('* as count');

  for (const batchSize of [50, 1]) {
    it(`one poisoned job among 50 enqueued together: 49 complete, 1 fails at once with its code (batch size ${batchSize})`, async () => {
      const charges = await chargesWithRuns(db().knex, 50);
      await start(batchSize);
      const jobs = await queues.queue('allocate-credit').addBulk(charges.map((id, i) => ({ name: 'allocate-credit', data: allocate(id, i === 9 ? '500' : '10') })));
      const outcomes = await finish(jobs);
      expect(outcomes.map((o) => o.state)).to.deep.equal(charges.map((_, i) => (i === 9 ? 'failed' : 'completed')));
      expect(outcomes[9].reason).to.match(/^credit_allocations_exceed_total: /);
      expect(outcomes[9].attemptsMade).to.equal(1);
      expect((await realizationCount(charges))[0].count).to.equal('49');
    });
  }

  it('a COMMIT that keeps failing: every job of that batch is retried by BullMQ, and each ends with exactly one effect', async () => {
    const charges = await chargesWithRuns(db().knex, 50);
    // Every COMMIT fails until the first job has gone back to BullMQ (the engine redid its batch twice first).
    const restore = await failNextAllocateCommits(db().knex, 1_000_000);
    try {
      await start(50);
      const retried: string[] = [];
      const firstFailure = new Promise<void>((resolve) =>
        workers[0].on('failed', (job, err) => {
          if (job && /injected failure at COMMIT/.test(err.message)) retried.push(job.id!);
          resolve();
        }),
      );
      const jobs = await queues.queue('allocate-credit').addBulk(charges.map((id) => ({ name: 'allocate-credit', data: allocate(id, '10') })));
      await firstFailure;
      await restore();
      const outcomes = await finish(jobs);
      expect(outcomes.map((o) => o.state)).to.deep.equal(charges.map(() => 'completed'));
      expect(retried.length).to.be.greaterThan(0);
      const retriedOutcomes = outcomes.filter((_, i) => retried.includes(jobs[i].id!));
      expect(retriedOutcomes.every((o) => o.attemptsMade >= 2)).to.equal(true);
    } finally {
      await restore();
    }
    expect((await realizationCount(charges))[0].count).to.equal('50');
    const keys = await db()
      .knex('flat_fee_idempotency_keys')
      .where({ queue: 'allocate-credit' }).whereRaw(`result ->> 'chargeId' = ANY(?)`, [charges]).count<{ count: string }[]>('* as count');
    expect(keys[0].count).to.equal('50');
  });

  it('50 jobs on one charge through the batched worker apply in enqueue order', async () => {
    const [id] = await chargesWithRuns(db().knex, 1);
    await start(20);
    const jobs = await queues.queue('allocate-credit').addBulk(Array.from({ length: 50 }, () => ({ name: 'allocate-credit', data: allocate(id, '2.5') })));
    const outcomes = await finish(jobs);
    // 40 × 2.5 = 100 is the charge's amount: the first 40 fit, the last 10 exceed it.
    expect(outcomes.map((o) => o.state)).to.deep.equal(jobs.map((_, i) => (i < 40 ? 'completed' : 'failed')));
    const rows = await db().knex('charge_flat_fee_run_credit_allocations').whereIn('id', (await Promise.all(jobs.slice(0, 40).map((j) => Job.fromId(queues.queue('allocate-credit'), j.id!)))).map((j) => j!.returnvalue.realizationIds[0])).orderBy('created_at');
    expect(rows).to.have.length(40);
  });
});
