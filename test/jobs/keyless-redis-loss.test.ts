import { expect } from 'chai';
import { Job, Worker } from 'bullmq';
import IORedis from 'ioredis';
import pino from 'pino';
import { jobKey, keyRefOf } from '../../src/db/idempotency';
import { FlatFeeQueues } from '../../src/queues/producer';
import { startWorkers, stopWorkers } from '../../src/queues/worker';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { PrivateRedis } from '../helpers/private-redis';
import { FAST_RETRY } from '../helpers/queue';

// SPEC §3's key rule for jobs without idempotencyKey: BullMQ's own ids restart at 1 when Redis loses
// its data, so an auto id is only a key together with the job's creation time (RELIABILITY 12).

describe('keys of jobs without idempotencyKey', () => {
  it('a custom job id is the key as given; an auto id carries its creation time; the payload key wins', () => {
    const at = Date.parse('2026-12-05T05:00:00.123Z');
    expect(jobKey('charge-7-delete', at)).to.equal('charge-7-delete');
    expect(jobKey('1', at)).to.equal('1@2026-12-05T05:00:00.123Z');
    expect(jobKey('1', undefined)).to.equal('1');
    expect(jobKey(null, at)).to.equal('');
    expect(keyRefOf('delete-charge', { namespace: 'n', idempotencyKey: 'k-1' }, '1', at)).to.deep.equal({ queue: 'delete-charge', namespace: 'n', key: 'k-1' });
    expect(keyRefOf('delete-charge', { namespace: 'n' }, '12', at)).to.deep.equal({ queue: 'delete-charge', namespace: 'n', key: '12@2026-12-05T05:00:00.123Z' });
  });

  for (const batchSize of [1, 50]) {
    describe(`after Redis loses its data (batch size ${batchSize})`, function () {
      this.timeout(60000);
      const db = useTestDatabase(`keyless_loss_${batchSize}`);
      let redis: PrivateRedis;
      let workers: Worker[];
      let queues: FlatFeeQueues;
      const prefix = `ffwt-keyless-${batchSize}`;

      before(async () => {
        redis = await PrivateRedis.start();
        queues = new FlatFeeQueues({ redisUrl: redis.url, prefix, defaultJobOptions: FAST_RETRY });
        workers = startWorkers({ knex: db().knex, logger: pino({ level: 'silent' }), redisUrl: redis.url, prefix, concurrency: 4, batchSize, queues: ['create-charge', 'delete-charge'] });
        await Promise.all(workers.map((w) => w.waitUntilReady()));
        listen();
      });
      after(async () => {
        await stopWorkers(workers, 10000, pino({ level: 'silent' }));
        await queues.close();
        await redis.stop();
      });

      /**
       * The outcome of one delivery, from the in-process workers' own events (keyed by id and creation
       * time: ids repeat after the flush), registered before anything is added, so none can be missed.
       */
      const ended = new Map<string, () => void>();
      const endedKeys = new Set<string>();
      const keyOf = (job: Job) => `${job.queueName}:${job.id}:${job.timestamp}`;
      function listen() {
        for (const w of workers) {
          for (const event of ['completed', 'failed'] as const) {
            w.on(event, (job: Job | undefined) => {
              if (!job) return;
              endedKeys.add(keyOf(job));
              ended.get(keyOf(job))?.();
            });
          }
        }
      }

      async function finished(job: Job) {
        if (!endedKeys.has(keyOf(job))) await new Promise<void>((resolve) => ended.set(keyOf(job), resolve));
        const fresh = (await Job.fromId(queues.queue(job.queueName as 'delete-charge'), job.id!))!;
        return { state: await fresh.getState(), result: fresh.returnvalue, failedReason: fresh.failedReason };
      }

      it('a new keyless job "1" on another charge is applied, and an identical one is applied again, never replayed', async () => {
        // Given two charges, and a keyless delete of charge A that took BullMQ's id 1
        const a = chargePayload();
        const b = chargePayload();
        expect((await finished(await queues.createCharge(a as never, { idempotencyKey: `create-${a.id}` }))).state).to.equal('completed');
        expect((await finished(await queues.createCharge(b as never, { idempotencyKey: `create-${b.id}` }))).state).to.equal('completed');
        const first = await queues.deleteCharge({ namespace: NS, chargeId: a.id });
        expect(first.id).to.equal('1');
        expect(await finished(first)).to.deep.include({ state: 'completed' });

        // When Redis loses everything and ids count from 1 again
        const admin = new IORedis(redis.url);
        await admin.flushall();
        admin.disconnect();
        const onB = await queues.deleteCharge({ namespace: NS, chargeId: b.id });
        expect(onB.id).to.equal('1');
        const outB = await finished(onB);
        const againOnA = await queues.deleteCharge({ namespace: NS, chargeId: a.id });
        expect(againOnA.id).to.equal('2');
        const outA = await finished(againOnA);

        // Then B is deleted by its own job (no idempotency_key_conflict), and A's new job is applied, not replayed
        expect(outB.state, outB.failedReason).to.equal('completed');
        expect(outB.result.replayed).to.equal(undefined);
        expect((await db().knex('charge_flat_fees').where({ id: b.id }).first()).status).to.equal('deleted');
        expect(outA.state, outA.failedReason).to.equal('completed');
        expect(outA.result.replayed).to.equal(undefined);
        const keys = await db().knex('flat_fee_idempotency_keys').where({ queue: 'delete-charge' }).orderBy('created_at').pluck('key');
        expect(keys).to.deep.equal([jobKey('1', first.timestamp), jobKey('1', onB.timestamp), jobKey('2', againOnA.timestamp)]);
        expect(new Set(keys).size).to.equal(3);
      });
    });
  }
});
