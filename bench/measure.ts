import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { redisOptions } from '../src/queues/connection';
import { percentile } from './stats';

export interface QueueRun {
  jobs: number;
  failed: number;
  /** Jobs per second from the first enqueue to the last job finished. */
  rate: number;
  seconds: number;
  /** Enqueue (job.timestamp) → finished (job.finishedOn, set after the COMMIT), in ms. */
  p50: number;
  p95: number;
  p99: number;
  firstFailure: string | null;
}

/** Waits until `n` jobs of the queue have finished (completed or failed). */
export async function waitFinished(redisUrl: string, prefix: string, queue: string, n: number, timeoutMs: number): Promise<void> {
  const q = new Queue(queue, { connection: redisOptions(redisUrl, 'worker'), prefix });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const counts = await q.getJobCounts('completed', 'failed');
      if (counts.completed + counts.failed >= n) return;
      if (Date.now() > deadline) throw new Error(`${queue}: only ${counts.completed + counts.failed} of ${n} jobs finished in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await q.close();
  }
}

/**
 * Reads enqueue and finish times of jobs 1..n straight from their hashes (ids are BullMQ's own
 * counter, the workers keep every finished job during the benchmark), pipelined.
 */
export async function readTimings(redisUrl: string, prefix: string, queue: string, n: number, firstId = 1): Promise<QueueRun> {
  const redis = new IORedis(redisUrl);
  const rows: Array<[string | null, string | null, string | null]> = [];
  try {
    const lastId = firstId + n - 1;
    for (let start = firstId; start <= lastId; start += 5000) {
      const pipeline = redis.pipeline();
      for (let id = start; id <= Math.min(lastId, start + 4999); id++) pipeline.hmget(`${prefix}:${queue}:${id}`, 'timestamp', 'finishedOn', 'failedReason');
      for (const [err, value] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        rows.push(value as [string | null, string | null, string | null]);
      }
    }
  } finally {
    redis.disconnect();
  }
  const finished = rows.filter(([t, f]) => t && f);
  if (finished.length < n) throw new Error(`${queue}: ${n - finished.length} of ${n} job hashes missing (retention too small?)`);
  const failures = rows.filter(([, , reason]) => reason);
  const latencies = finished.map(([t, f]) => Number(f) - Number(t));
  const first = finished.reduce((m, [t]) => Math.min(m, Number(t)), Infinity);
  const last = finished.reduce((m, [, f]) => Math.max(m, Number(f)), 0);
  const seconds = (last - first) / 1000;
  return {
    jobs: n,
    failed: failures.length,
    rate: n / seconds,
    seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    firstFailure: failures[0]?.[2] ?? null,
  };
}
