import { expect } from 'chai';
import { Job, QueueEvents, Worker } from 'bullmq';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/queues/connection';
import { FlatFeeQueues } from '../../src/queues/producer';
import { startWorkers, stopWorkers } from '../../src/queues/worker';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { dropPrefix, FAST_RETRY, testPrefix } from '../helpers/queue';

// RELIABILITY 13: a 3,000-level payload or a lone surrogate fails at its first attempt with
// validation_failed, writes nothing, and never makes another job of its batch report a failure.

const redisUrl = loadConfig().redisUrl;

function nested(levels: number): Record<string, unknown> {
  let value: unknown = 'x';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value as Record<string, unknown>;
}

for (const batchSize of [1, 50]) {
  describe(`payload limits through the worker (batch size ${batchSize})`, function () {
    this.timeout(60000);
    const db = useTestDatabase(`limits_worker_${batchSize}`);
    const prefix = testPrefix(`limits-${batchSize}`);
    let workers: Worker[];
    let queues: FlatFeeQueues;
    let events: QueueEvents;

    before(async () => {
      queues = new FlatFeeQueues({ redisUrl, prefix, defaultJobOptions: FAST_RETRY });
      events = new QueueEvents('create-charge', { connection: redisOptions(redisUrl, 'worker'), prefix });
      await events.waitUntilReady();
      workers = startWorkers({ knex: db().knex, logger: pino({ level: 'silent' }), redisUrl, prefix, concurrency: 4, batchSize, queues: ['create-charge'] });
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    });
    after(async () => {
      await stopWorkers(workers, 10000, pino({ level: 'silent' }));
      await events.close();
      await queues.close();
      await dropPrefix(prefix);
    });

    it('deep metadata and lone surrogates fail once with validation_failed; the 20 good jobs among them commit', async () => {
      // Given 20 good charges with a 3,000-level one and two lone-surrogate keys among them, added at once
      const good = Array.from({ length: 20 }, () => chargePayload());
      const bad = [
        { data: chargePayload({ metadata: nested(3000) }), opts: {} },
        { data: chargePayload(), opts: { idempotencyKey: 'lone\ud800' } },
        { data: chargePayload(), opts: { idempotencyKey: 'lone\udc00' } },
      ];
      const q = queues.queue('create-charge');
      const jobs = await q.addBulk([
        ...good.slice(0, 10).map((data) => ({ name: 'create-charge', data })),
        ...bad.map((b) => ({ name: 'create-charge', data: { ...b.data, ...b.opts } })),
        ...good.slice(10).map((data) => ({ name: 'create-charge', data })),
      ]);
      // When every job has finished
      await Promise.all(jobs.map((j) => j.waitUntilFinished(events).catch(() => undefined)));
      const outcomes = await Promise.all(
        jobs.map(async (j) => {
          const fresh = (await Job.fromId(q, j.id!))!;
          return { state: await fresh.getState(), attemptsMade: fresh.attemptsMade, reason: fresh.failedReason ?? null };
        }),
      );
      // Then the good ones completed, each bad one failed at its first attempt naming the field
      expect(outcomes.filter((o) => o.state === 'completed')).to.have.length(20);
      expect(outcomes.slice(10, 13)).to.deep.equal([
        { state: 'failed', attemptsMade: 1, reason: 'validation_failed: (payload): payload must be at most 40 levels deep' },
        { state: 'failed', attemptsMade: 1, reason: 'validation_failed: idempotencyKey: idempotencyKey must be well-formed Unicode (a lone surrogate)' },
        { state: 'failed', attemptsMade: 1, reason: 'validation_failed: idempotencyKey: idempotencyKey must be well-formed Unicode (a lone surrogate)' },
      ]);
      const ids = (await db().knex('charge_flat_fees').pluck('id')).sort();
      expect(ids).to.deep.equal(good.map((g) => g.id).sort());
      expect(await db().knex('flat_fee_idempotency_keys').where('key', 'like', 'lone%')).to.have.length(0);
    });
  });
}
