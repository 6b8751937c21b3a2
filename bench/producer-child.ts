import { JobsOptions, Queue } from 'bullmq';
import { redisOptions } from '../src/queues/connection';
import { RETENTION } from '../src/queues/worker';

// The upstream producer, in its own process as the issue asks: it enqueues with addBulk (1,000 a
// call) as fast as it can, or at a fixed rate, and reports when it started and finished. At a fixed
// rate it can run a warm-up first and say when it is over, without a pause in the load: the
// measured jobs then meet a producer, a worker and a PostgreSQL in their steady state.

export interface ProducePlan {
  redisUrl: string;
  prefix: string;
  queue: string;
  payloads: unknown[];
  /** Jobs per second; absent = as fast as possible. */
  rate?: number;
  /** After this many jobs are enqueued the producer says so ({ warmedUp }) and goes on at the same rate. */
  warmupJobs?: number;
}

// Job options win over the worker's: keep as many finished jobs as the worker does, so timings can be read back.
const OPTIONS: JobsOptions = { attempts: 8, backoff: { type: 'exponential', delay: 500 }, ...RETENTION };
const CHUNK = 1000;

async function produce(plan: ProducePlan, queue: Queue): Promise<{ firstEnqueueAt: number; doneAt: number }> {
  const firstEnqueueAt = Date.now();
  const bulk = (items: unknown[]) => queue.addBulk(items.map((data) => ({ name: plan.queue, data, opts: OPTIONS })));
  if (!plan.rate) {
    for (let i = 0; i < plan.payloads.length; i += CHUNK) await bulk(plan.payloads.slice(i, i + CHUNK));
  } else {
    // Every 10 ms, whatever is due by now: a steady arrival rate, not bursts of a second's worth.
    let sent = 0;
    let warm = !plan.warmupJobs;
    while (sent < plan.payloads.length) {
      const due = Math.min(plan.payloads.length, Math.floor(((Date.now() - firstEnqueueAt) / 1000) * plan.rate) + 1, warm ? Infinity : plan.warmupJobs!);
      if (due > sent) {
        await bulk(plan.payloads.slice(sent, due));
        sent = due;
      }
      if (!warm && sent === plan.warmupJobs) {
        warm = true;
        process.send!({ warmedUp: Date.now() });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const doneAt = Date.now();
  await queue.close();
  return { firstEnqueueAt, doneAt };
}

// The plan first: the producer connects and says it is ready, and enqueues only on `go`, so its own
// start (loading and compiling its modules, about a second of CPU) stays out of the measured window.
let ready: { plan: ProducePlan; queue: Queue } | null = null;
process.on('disconnect', () => process.exit(1));
process.on('message', async (msg: { plan: ProducePlan } | { go: true }) => {
  if ('plan' in msg) {
    const queue = new Queue(msg.plan.queue, { connection: redisOptions(msg.plan.redisUrl, 'producer'), prefix: msg.plan.prefix });
    await queue.waitUntilReady();
    ready = { plan: msg.plan, queue };
    process.send!({ ready: true });
    return;
  }
  if (!ready) throw new Error('producer: go before plan');
  const timing = await produce(ready.plan, ready.queue);
  process.send!({ timing }, () => process.exit(0));
});
