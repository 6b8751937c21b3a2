import { expect } from 'chai';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import { ulid } from 'ulid';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { enqueueAll, LONG, PlannedJob, tally } from '../helpers/flow';
import { PrivateRedis } from '../helpers/private-redis';
import { useWorkerHarness } from '../helpers/queue';
import { startWorkerProcess, WorkerProcess } from '../helpers/worker-process';

// Poison: a job whose processing throws something no rule foresaw is retried with backoff, then
// failed with its stack where operators look (Bull Board), writing nothing, while the worker keeps
// serving. Overload: a burst of waiting jobs leaves Redis bounded by retention and the worker's RSS flat.

const NS = 'ns-poison';
const BURST = Number(process.env.BURST ?? (LONG ? 100000 : 4000));
/** Retention used for the burst: the workers' default (10,000) only bites on the LONG burst. */
const KEEP = LONG ? 10000 : 500;
/**
 * V8 grows its heap over the first ~8,000 jobs (measured: RSS 150 → 180 MB, then flat through 16,000),
 * so the default burst only catches gross leaks (over ~15 KB a job); LONG=1's 100,000 jobs catch
 * anything above ~0.5 KB a job.
 */
const RSS_SLACK_MB = 60;
/** The burst arrives in waves, so memory can be compared after warm-up and at the end. */
const WAVES = Number(process.env.WAVES ?? (LONG ? 10 : 4));

async function boardJob(url: string, queue: string, jobId: string): Promise<{ status: string; job: { stacktrace: string[]; failedReason: string; attemptsMade: number } }> {
  const res = await fetch(`${url}/api/queues/${queue}/${jobId}`);
  expect(res.status).to.equal(200);
  return (await res.json()) as never;
}

describe('reliability: poison jobs and overload', function () {
  this.timeout(LONG ? 1200000 : 180000);
  const db = useTestDatabase('poison_overload');
  const h = useWorkerHarness('poison', () => db().knex);

  describe('a poison job', () => {
    let server: Server;
    let boardUrl: string;
    before(async () => {
      // Given a trigger that makes one transaction group blow up inside the handler's INSERT
      await db().knex.raw(`
        CREATE FUNCTION poison() RETURNS trigger AS $$
        BEGIN
          IF NEW.transaction_group_id = 'tg-poison' THEN RAISE EXCEPTION 'poison pill in %', NEW.transaction_group_id; END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER poison BEFORE INSERT ON charge_flat_fee_run_credit_allocations FOR EACH ROW EXECUTE FUNCTION poison();`);
      const adapter = new ExpressAdapter().setBasePath('/');
      createBullBoard({ queues: QUEUE_NAMES.map((q) => new BullMQAdapter(h().queues.queue(q))), serverAdapter: adapter });
      const app = express();
      app.use('/', adapter.getRouter());
      server = createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      boardUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('is retried with backoff, then failed with its stack in Bull Board, writing nothing; the worker keeps serving', async () => {
      const charge = chargePayload({ namespace: NS, settlementMode: 'credit_then_invoice' });
      expect((await h().run('create-charge', charge)).state).to.equal('completed');

      // When the poison job runs with 4 attempts and exponential backoff from 100 ms
      const poison = { namespace: NS, chargeId: charge.id, realizations: [{ type: 'allocation', amount: '5', transactionGroupId: 'tg-poison' }] };
      const out = await h().run('allocate-credit', poison, { attempts: 4, backoff: { type: 'exponential', delay: 100 } });

      // Then it failed after every attempt, no sooner than the backoff allows (100 + 200 + 400 ms)
      expect(out.state).to.equal('failed');
      expect(out.job.attemptsMade).to.equal(4);
      expect(out.failedReason).to.match(/poison pill in tg-poison/);
      expect(out.job.finishedOn! - out.job.timestamp).to.be.at.least(700);
      const board = await boardJob(boardUrl, 'allocate-credit', out.job.id!);
      expect(board.status).to.equal('failed');
      expect(board.job.stacktrace).to.have.length(4);
      for (const stack of board.job.stacktrace) expect(stack).to.match(/poison pill in tg-poison[\s\S]*\n\s+at /);

      // And nothing of it was written, while a good allocation right after it completes
      expect(await db().knex('charge_flat_fee_run_credit_allocations').where({ namespace: NS })).to.have.length(0);
      const good = await h().run('allocate-credit', { ...poison, realizations: [{ ...poison.realizations[0], transactionGroupId: 'tg-good' }] });
      expect(good.state).to.equal('completed');
      expect((await db().knex('charge_flat_fee_run_credit_allocations').where({ namespace: NS })).map((r) => r.transaction_group_id)).to.deep.equal(['tg-good']);
    });
  });

  describe(`a burst of ${BURST} waiting jobs`, () => {
    let redis: PrivateRedis;
    let worker: WorkerProcess;
    let queues: FlatFeeQueues;
    before(async function () {
      this.timeout(30000);
      redis = await PrivateRedis.start();
      worker = await startWorkerProcess({
        databaseUrl: db().url,
        redisUrl: redis.url,
        prefix: 'burst',
        concurrency: 16,
        env: { KEEP_COMPLETED_JOBS: String(KEEP), LOG_LEVEL: 'info' },
      });
      queues = new FlatFeeQueues({ redisUrl: redis.url, prefix: 'burst', defaultJobOptions: { removeOnComplete: { count: KEEP } } });
    });
    after(async () => {
      await worker?.stop();
      await queues?.close();
      await redis?.stop();
    });

    /** One wave of the burst: all waiting at once, then drained. Figures in MB. */
    async function wave(label: string): Promise<{ waitingMb: number; drainedMb: number; rssMb: number }> {
      const jobs: PlannedJob[] = Array.from({ length: BURST / WAVES }, (_, i) => ({
        queue: 'create-charge',
        jobId: `${label}-${i}`,
        data: chargePayload({ namespace: 'ns-burst', id: ulid(), customerId: `c-${i % 100}` }),
      }));
      await enqueueAll(queues, jobs, 2000);
      const waitingMb = (await redis.usedMemoryBytes()) / 2 ** 20;
      // Completed jobs are trimmed to KEEP, so the end is "nothing left to do", not a completed count
      const deadline = Date.now() + (LONG ? 1100000 : 150000);
      for (let t = await tally(queues, ['create-charge']); t.waiting + t.active + t.delayed > 0; t = await tally(queues, ['create-charge'])) {
        if (Date.now() > deadline) throw new Error(`burst ${label} not drained: ${JSON.stringify(t)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return { waitingMb, drainedMb: (await redis.usedMemoryBytes()) / 2 ** 20, rssMb: worker.rssMb() };
    }

    it('keeps Redis memory bounded by retention and the worker RSS flat', async () => {
      const idleMb = (await redis.usedMemoryBytes()) / 2 ** 20;
      const waves: Array<Awaited<ReturnType<typeof wave>>> = [];
      for (let i = 0; i < WAVES; i++) waves.push(await wave(`w${i}`));
      const counts = await tally(queues, ['create-charge']);
      const charges = Number((await db().knex('charge_flat_fees').where({ namespace: 'ns-burst' }).count({ n: '*' }).first())!.n);
      const mb = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(' / ');
      process.stderr.write(
        `      burst of ${BURST} in ${WAVES} waves: Redis idle ${idleMb.toFixed(1)} MB, waiting ${mb(waves.map((w) => w.waitingMb))} MB, ` +
          `drained ${mb(waves.map((w) => w.drainedMb))} MB; worker RSS ${waves.map((w) => w.rssMb.toFixed(0)).join(' → ')} MB\n`,
      );
      // Every job applied once; only the retained tail stays in Redis
      expect(charges).to.equal(BURST);
      expect(counts).to.deep.include({ waiting: 0, active: 0, failed: 0 });
      expect(counts.completed).to.be.at.most(KEEP);
      // Drained memory is what KEEP finished jobs cost (a few KB each at most), not what the burst held
      const [first, last] = [waves[1], waves[WAVES - 1]];
      expect(last.drainedMb).to.be.below(first.drainedMb * 1.15 + 1);
      expect(last.drainedMb - idleMb).to.be.below((KEEP * 4) / 1024 + 1);
      // RSS levels off: the low point of the later waves stays within RSS_SLACK_MB of the earlier ones'
      // (lows, so a garbage collection that has not run yet does not read as a leak)
      const low = (ws: typeof waves) => Math.min(...ws.map((w) => w.rssMb));
      const half = Math.floor(WAVES / 2);
      expect(low(waves.slice(half)) - low(waves.slice(0, half))).to.be.below(RSS_SLACK_MB);
      expect(worker.alive).to.equal(true);
    });
  });
});
