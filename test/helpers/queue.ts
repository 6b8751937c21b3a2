import { randomBytes } from 'node:crypto';
import { Job, JobsOptions, Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Knex } from 'knex';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/queues/connection';
import { EnqueueOptions, FlatFeeQueues, PayloadOf } from '../../src/queues/producer';
import { QUEUE_NAMES, QueueName } from '../../src/queues/registry';
import { startWorkers, stopWorkers } from '../../src/queues/worker';

const config = loadConfig();

/** Fast retries for tests: preconditions and faults retry within milliseconds. */
export const FAST_RETRY: JobsOptions = { attempts: 3, backoff: { type: 'fixed', delay: 20 } };

export interface JobOutcome {
  job: Job;
  state: string;
  result: Record<string, any> | null;
  failedReason: string | null;
}

export interface WorkerHarness {
  prefix: string;
  queues: FlatFeeQueues;
  workers: Worker[];
  /** Enqueues without local validation (bad payloads must reach the worker too) and waits for the end. */
  run<Q extends QueueName>(queue: Q, payload: PayloadOf<Q> | Record<string, unknown>, options?: EnqueueOptions): Promise<JobOutcome>;
  add<Q extends QueueName>(queue: Q, payload: PayloadOf<Q> | Record<string, unknown>, options?: EnqueueOptions): Promise<Job>;
  wait(job: Job): Promise<JobOutcome>;
  /** Waits until a job's first attempt has failed (it waits for its retry), and returns it as it is then. */
  failedOnce(job: Job): Promise<Job>;
}

export function testPrefix(label: string): string {
  return `ffwt-${label}-${randomBytes(3).toString('hex')}`;
}

/** Removes every key of a test prefix. */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new IORedis(config.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * ioredis reads monitor lines as replies until the MONITOR's OK has been handled; a line that comes in
 * the same read as the OK is reported as a "command queue state" error. Such a line arrives before
 * monitorScripts resolves, so it is never one of the test's own commands.
 */
const MONITOR_RACE = /^Command queue state error/;

/**
 * Redis MONITOR for a test, reporting the keys of every script call any client makes (a client's
 * first call of a script is EVAL, which loads it; later ones EVALSHA) until stop(). Any other error
 * of the monitoring connection fails the start, or stop().
 */
export async function monitorScripts(onScript: (keys: string[]) => void): Promise<{ stop(): void }> {
  const monitor = new IORedis(config.redisUrl, { monitor: true });
  const errors: Error[] = [];
  let stopped = false;
  monitor.on('error', (err: Error) => {
    if (!stopped && !MONITOR_RACE.test(err.message)) errors.push(err);
  });
  monitor.on('monitor', (_time: string, args: unknown[]) => {
    const a = args.map(String);
    if (['eval', 'evalsha'].includes(a[0].toLowerCase())) onScript(a.slice(3, 3 + Number(a[2])));
  });
  await new Promise<void>((resolve, reject) => {
    monitor.once('monitoring', () => resolve());
    monitor.once('end', () => reject(errors[0] ?? new Error('the monitoring connection ended before MONITOR')));
  });
  return {
    stop() {
      // Lines still on the wire as the connection leaves monitoring mode are read as replies too.
      stopped = true;
      monitor.removeAllListeners('monitor');
      monitor.disconnect();
      if (errors.length > 0) throw errors[0];
    },
  };
}

export interface BareQueue {
  name: string;
  prefix: string;
  queue: Queue;
  events: QueueEvents;
  /** A worker for the test; closed after it. */
  worker(processor: (job: Job) => Promise<unknown>, concurrency: number): Worker;
}

/**
 * One plain BullMQ queue on its own prefix, with QueueEvents to await jobs and a worker per test
 * (closed after each), for tests of what the worker does at the queue's edge.
 */
export function useBareQueue(label: string, name: string): () => BareQueue {
  const prefix = testPrefix(label);
  let bare: BareQueue | null = null;
  let current: Worker | null = null;
  before(async () => {
    const queue = new Queue(name, { connection: redisOptions(config.redisUrl, 'producer'), prefix });
    const events = new QueueEvents(name, { connection: redisOptions(config.redisUrl, 'worker'), prefix });
    // 20 jobs awaited at once, each listening on both
    events.setMaxListeners(50);
    queue.setMaxListeners(50);
    await events.waitUntilReady();
    bare = {
      name,
      prefix,
      queue,
      events,
      worker: (processor, concurrency) => (current = new Worker(name, processor, { connection: redisOptions(config.redisUrl, 'worker'), prefix, concurrency })),
    };
  });
  afterEach(async () => {
    await current?.close();
    current = null;
  });
  after(async () => {
    await bare?.events.close();
    await bare?.queue.close();
    await dropPrefix(prefix);
  });
  return () => {
    if (!bare) throw new Error('queue not ready');
    return bare;
  };
}

/** A real Worker per queue on its own prefix, with the producer client and QueueEvents to await outcomes. */
export function useWorkerHarness(label: string, knex: () => Knex, options: { concurrency?: number } = {}): () => WorkerHarness {
  let harness: WorkerHarness | null = null;
  let events: Map<QueueName, QueueEvents>;
  before(async function () {
    this.timeout(30000);
    const prefix = testPrefix(label);
    const logger = pino({ level: process.env.LOG_LEVEL || 'silent' });
    const queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix, defaultJobOptions: FAST_RETRY });
    events = new Map(QUEUE_NAMES.map((q) => [q, new QueueEvents(q, { connection: redisOptions(config.redisUrl, 'worker'), prefix })]));
    await Promise.all([...events.values()].map((e) => e.waitUntilReady()));
    const workers = startWorkers({ knex: knex(), logger, redisUrl: config.redisUrl, prefix, concurrency: options.concurrency ?? 4 });
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const add = async (queue: QueueName, payload: unknown, opts: EnqueueOptions = {}) => {
      const { idempotencyKey, ...jobOptions } = opts;
      const data = idempotencyKey === undefined ? payload : { ...(payload as object), idempotencyKey };
      return queues.queue(queue).add(queue, data, jobOptions);
    };
    const wait = async (job: Job): Promise<JobOutcome> => {
      const queue = job.queueName as QueueName;
      try {
        await job.waitUntilFinished(events.get(queue)!);
      } catch {
        // the outcome is read back below
      }
      const fresh = (await Job.fromId(queues.queue(queue), job.id!))!;
      const state = await fresh.getState();
      return { job: fresh, state, result: fresh.returnvalue ?? null, failedReason: fresh.failedReason ?? null };
    };
    const failedOnce = async (job: Job): Promise<Job> => {
      const queue = queues.queue(job.queueName as QueueName);
      for (const deadline = Date.now() + 20000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
        const fresh = (await Job.fromId(queue, job.id!))!;
        if (fresh.attemptsMade > 0) return fresh;
      }
      throw new Error(`job ${job.id} on ${job.queueName}: no failed attempt within 20 s`);
    };
    harness = {
      prefix,
      queues,
      workers,
      add: add as WorkerHarness['add'],
      wait,
      failedOnce,
      run: (async (queue: QueueName, payload: unknown, opts?: EnqueueOptions) => wait(await add(queue, payload, opts))) as WorkerHarness['run'],
    };
  });
  after(async function () {
    this.timeout(30000);
    if (!harness) return;
    await stopWorkers(harness.workers, 10000, pino({ level: 'silent' }));
    await Promise.all([...events.values()].map((e) => e.close()));
    await harness.queues.close();
    await dropPrefix(harness.prefix);
  });
  return () => {
    if (!harness) throw new Error('worker harness not ready');
    return harness;
  };
}
