import { Job, JobsOptions, Queue } from 'bullmq';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES, QueueName } from '../../src/queues/registry';

// Bulk enqueueing and waiting for thousands of jobs at once (reliability tests): per-job
// waitUntilFinished would cost one stream read each.

export interface PlannedJob {
  queue: QueueName;
  data: Record<string, unknown>;
  /** Distinct per delivery; duplicates of one effect share data.idempotencyKey instead. */
  jobId: string;
  opts?: JobsOptions;
}

export interface QueueTally {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  prioritized: number;
  'waiting-children': number;
}

/** addBulk in chunks, queue by queue; the producer client's job defaults apply. */
export async function enqueueAll(queues: FlatFeeQueues, jobs: PlannedJob[], chunk = 1000): Promise<void> {
  const byQueue = new Map<QueueName, PlannedJob[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue) ?? [];
    list.push(job);
    byQueue.set(job.queue, list);
  }
  for (const [queue, list] of byQueue) {
    for (let i = 0; i < list.length; i += chunk) {
      const slice = list.slice(i, i + chunk);
      await queues.queue(queue).addBulk(slice.map((j) => ({ name: queue, data: j.data, opts: { ...j.opts, jobId: j.jobId } })));
    }
  }
}

export async function tally(queues: FlatFeeQueues, names: readonly QueueName[] = QUEUE_NAMES): Promise<QueueTally> {
  const sum: QueueTally = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0, prioritized: 0, 'waiting-children': 0 };
  for (const name of names) {
    const counts = await queues.queue(name).getJobCounts(...(Object.keys(sum) as (keyof QueueTally)[]));
    for (const key of Object.keys(sum) as (keyof QueueTally)[]) sum[key] += counts[key] ?? 0;
  }
  return sum;
}

/**
 * Polls until the worker has finished some jobs beyond `completedBefore` while others still wait or
 * run: the moment a fault test means by "while jobs flow". A fixed pause misses it on a fast machine,
 * where the worker is done before the pause ends. Returns that moment's tally (or the last one, with
 * nothing pending, when the jobs all finished between two polls).
 */
export async function whileFlowing(queues: FlatFeeQueues, completedBefore: number, timeoutMs = 10000): Promise<QueueTally> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await tally(queues);
    const pending = now.waiting + now.active;
    if ((now.completed > completedBefore && pending > 0) || pending === 0 || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 2));
  }
}

// The producer's queues each hold their own connection and fail fast while it is down (SPEC
// connection policy), so after a Redis fault one queue can answer while another still reconnects.
const REDIS_RECONNECTING = /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET/;

/**
 * Polls until `finished` jobs are completed or failed and nothing is waiting, active or delayed.
 * `onTick` runs between polls (the crash test kills workers from there). A poll that meets a
 * reconnecting producer connection is skipped, not fatal: the deadline still bounds the wait.
 */
export async function waitForFinished(
  queues: FlatFeeQueues,
  finished: number,
  options: { timeoutMs: number; names?: readonly QueueName[]; onTick?: (t: QueueTally) => Promise<void> | void },
): Promise<QueueTally> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let t: QueueTally;
    try {
      t = await tally(queues, options.names);
    } catch (err) {
      if (!REDIS_RECONNECTING.test(String((err as Error).message)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const idle = t.waiting + t.active + t.delayed + t.prioritized + t['waiting-children'] === 0;
    if (idle && t.completed + t.failed >= finished) return t;
    if (Date.now() > deadline) throw new Error(`jobs not finished in ${options.timeoutMs} ms: ${JSON.stringify(t)}`);
    await options.onTick?.(t);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls one job until it reaches the state; throws with the state it is in after the timeout. */
export async function waitForState(queue: Queue, jobId: string, state: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let current = await queue.getJobState(jobId); current !== state; current = await queue.getJobState(jobId)) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${current}, not ${state}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every job of the queues in a state, with its data, result and failure read back. */
export async function jobsIn(queue: Queue, state: 'completed' | 'failed' | 'active'): Promise<Job[]> {
  const out: Job[] = [];
  for (let start = 0; ; start += 1000) {
    const page = await queue.getJobs([state], start, start + 999, true);
    out.push(...page.filter(Boolean));
    if (page.length < 1000) return out;
  }
}

/** A deterministic pseudo-random stream (mulberry32), so a failing run can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Heavier variants run with LONG=1 (npm run test:long). */
export const LONG = process.env.LONG === '1';
