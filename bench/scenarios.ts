import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { ulid } from 'ulid';
import { BenchOptions } from './args';
import { QueueRun, readTimings, waitFinished } from './measure';
import { produce, startWorkerProcess, WorkerSpec, WorkerStats } from './processes';
import { PrivateRedis } from './redis-server';
import { postgresMsBetween, sampleCpu } from './cpu';
import { TestDatabase } from '../test/helpers/db';
import { chargePayload, seedCharges } from './seed-charges';

export interface Ctx {
  opts: BenchOptions;
  redis: PrivateRedis;
  db: TestDatabase;
  run: number;
}

export interface Measured extends QueueRun {
  /** Per job, on the worker: knex statements (BEGIN/COMMIT/SAVEPOINT included) and COMMITs. */
  queriesPerJob: number;
  commitsPerJob: number;
  /** Per job, producer and worker together: Redis Lua scripts (round trips) and every command run, inside scripts too. */
  redisScriptsPerJob: number;
  redisCommandsPerJob: number;
  workerCpuMsPerJob: number;
  /** Per job, during the stage: PostgreSQL's CPU, the private Redis's, and the whole machine's busy time. */
  postgresCpuMsPerJob: number;
  redisCpuMsPerJob: number;
  machineCpuMsPerJob: number;
}

const TIMEOUT_MS = 15 * 60 * 1000;

function prefixFor(label: string, ctx: Ctx): string {
  return `ffwb-${label}-${ctx.run}-${randomBytes(2).toString('hex')}`;
}

function workerSpec(ctx: Ctx, prefix: string, over: Partial<WorkerSpec>): WorkerSpec {
  return {
    mode: 'flatfee',
    queues: ['allocate-credit'],
    databaseUrl: ctx.db.url,
    redisUrl: ctx.redis.url,
    prefix,
    concurrency: ctx.opts.concurrency,
    batchSize: ctx.opts.batchSize,
    partitions: ctx.opts.partitions,
    keepCompleted: 1000,
    ...over,
  };
}

function delta(before: WorkerStats, after: WorkerStats, jobs: number, redis: { scripts: number; executed: number }) {
  return {
    queriesPerJob: (after.queries - before.queries) / jobs,
    commitsPerJob: (after.commits - before.commits) / jobs,
    redisScriptsPerJob: redis.scripts / jobs,
    redisCommandsPerJob: redis.executed / jobs,
    workerCpuMsPerJob: (after.cpuMs - before.cpuMs) / jobs,
  };
}

export function allocationPayloads(namespace: string, chargeIds: string[], perCharge: number, amount = '1'): unknown[] {
  // Grouped by charge: a batch then holds many jobs of one charge, the hardest case for ordering.
  return chargeIds.flatMap((chargeId) =>
    Array.from({ length: perCharge }, (_, i) => ({ namespace, chargeId, realizations: [{ type: 'allocation', amount, transactionGroupId: `tg-${chargeId}-${i}` }] })),
  );
}

interface QueueStage {
  queue: string;
  payloads: unknown[];
  rate?: number;
  /** BullMQ's first id for this stage (a queue used twice continues its counter). */
  firstId?: number;
  /** The first payloads are a warm-up at the same rate, without a pause after them, and are not measured (needs rate). */
  warmup?: number;
}

interface StageStart {
  worker: WorkerStats;
  cpu: ReturnType<typeof sampleCpu>;
  redisMs: number;
}

/** One worker process, stages enqueued one after another by the producer process, each measured. */
async function runStages(ctx: Ctx, label: string, spec: Partial<WorkerSpec>, stages: QueueStage[], processes = 1): Promise<Measured[]> {
  const prefix = prefixFor(label, ctx);
  const keep = Math.max(...stages.map((s) => s.payloads.length)) * 2 + 1000;
  const worker = await startWorkers(workerSpec(ctx, prefix, { keepCompleted: keep, ...spec }), processes);
  const out: Measured[] = [];
  const startMeasuring = async (): Promise<StageStart> => {
    const stats = await worker.stats();
    await ctx.redis.resetStats();
    return { worker: stats, cpu: sampleCpu(), redisMs: await ctx.redis.cpuMs() };
  };
  try {
    for (const stage of stages) {
      const warmup = stage.warmup ?? 0;
      if (warmup > 0 && !stage.rate) throw new Error(`${stage.queue}: a warm-up needs a fixed rate`);
      let start: StageStart | null = null;
      const measureNow = async () => {
        start = await startMeasuring();
      };
      // Without a warm-up the window opens as the started producer is told to go; with one, when the warm-up is enqueued.
      await produce({ redisUrl: ctx.redis.url, prefix, queue: stage.queue, payloads: stage.payloads, rate: stage.rate, warmupJobs: warmup }, keep, warmup > 0 ? { warmedUp: measureNow } : { ready: measureNow });
      const firstId = stage.firstId ?? 1;
      await waitFinished(ctx.redis.url, prefix, stage.queue, firstId - 1 + stage.payloads.length, TIMEOUT_MS);
      const [cpuAfter, redisAfter] = [sampleCpu(), await ctx.redis.cpuMs()];
      const calls = await ctx.redis.commandCalls();
      if (process.env.BENCH_TRACE) process.stderr.write(`[trace] redis commands for ${stage.queue}: ${JSON.stringify(await ctx.redis.commandBreakdown())}\n`);
      const after = await worker.stats();
      const n = stage.payloads.length - warmup;
      const timing = await readTimings(ctx.redis.url, prefix, stage.queue, n, firstId + warmup);
      const from = start as StageStart | null;
      if (!from) throw new Error(`${stage.queue}: the producer never reported the end of its warm-up`);
      const cpu = {
        postgresCpuMsPerJob: postgresMsBetween(from.cpu, cpuAfter) / n,
        redisCpuMsPerJob: (redisAfter - from.redisMs) / n,
        machineCpuMsPerJob: (cpuAfter.busyMs - from.cpu.busyMs) / n,
      };
      out.push({ ...timing, ...delta(from.worker, after, n, calls), ...cpu });
    }
  } finally {
    await worker.stop();
    await flush(ctx.redis.url);
  }
  return out;
}

/** One or more worker processes behind one interface: stats are summed (peak RSS: the largest). */
async function startWorkers(spec: WorkerSpec, processes: number): Promise<{ stats(): Promise<WorkerStats>; stop(): Promise<void> }> {
  const all = await Promise.all(Array.from({ length: processes }, () => startWorkerProcess(spec)));
  return {
    async stats() {
      const each = await Promise.all(all.map((w) => w.stats()));
      const total = (k: keyof WorkerStats) => each.reduce((s, x) => s + x[k], 0);
      return { rss: total('rss'), peakRss: Math.max(...each.map((x) => x.peakRss)), queries: total('queries'), commits: total('commits'), cpuMs: total('cpuMs') };
    },
    async stop() {
      await Promise.all(all.map((w) => w.stop()));
    },
  };
}

async function flush(url: string): Promise<void> {
  const redis = new IORedis(url);
  await redis.flushall();
  redis.disconnect();
}

export async function bullmqNoop(ctx: Ctx): Promise<Measured> {
  const payloads = Array.from({ length: ctx.opts.jobs }, (_, i) => ({ n: i }));
  const [m] = await runStages(ctx, 'noop', { mode: 'noop', queues: ['noop'], concurrency: 8 }, [{ queue: 'noop', payloads }]);
  return m;
}

/**
 * The queue's share of the idle-latency row: the same producer at the same rate, a BullMQ worker
 * whose processor does nothing. What enqueue → finished costs on this machine before any job's work.
 */
export async function bullmqNoopIdle(ctx: Ctx, rate: number, jobs: number, warmup: number): Promise<Measured> {
  const payloads = Array.from({ length: warmup + jobs }, (_, i) => ({ n: i }));
  const [m] = await runStages(ctx, 'noopidle', { mode: 'noop', queues: ['noop'], concurrency: 8 }, [{ queue: 'noop', payloads, rate, warmup }]);
  return m;
}

export interface AllocateRun {
  label: string;
  jobs: number;
  perCharge: number;
  batchSize: number;
  concurrency: number;
  rate?: number;
  processes?: number;
  /** Jobs run first at the same rate, with no pause after them, and left out of the figures (warm-up). */
  warmupJobs?: number;
}

export async function allocateEndToEnd(ctx: Ctx, a: AllocateRun): Promise<Measured> {
  const namespace = `bench-${a.label}-${ctx.run}`;
  const warmup = a.warmupJobs ?? 0;
  const charges = await seedCharges(ctx.db.knex, namespace, Math.ceil((warmup + a.jobs) / a.perCharge));
  const payloads = allocationPayloads(namespace, charges, a.perCharge).slice(0, warmup + a.jobs);
  const [measured] = await runStages(ctx, a.label, { batchSize: a.batchSize, concurrency: a.concurrency }, [{ queue: 'allocate-credit', payloads, rate: a.rate, warmup }], a.processes);
  return measured;
}

const PERIOD = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
const USAGE_TOTALS = { amount: '100', chargesTotal: '100', discountsTotal: '0', taxesInclusiveTotal: '0', taxesExclusiveTotal: '0', taxesTotal: '0', creditsTotal: '10', total: '90' };

/** create → activate → allocate → invoiced usage → authorize → settle, each stage for every charge. */
export async function mixedLifecycle(ctx: Ctx, batchSize: number, chargeCount: number): Promise<{ total: Measured; stages: Measured[] }> {
  const namespace = `bench-mixed-${batchSize}-${ctx.run}`;
  const charges = Array.from({ length: chargeCount }, () => ({ id: ulid(), lineId: ulid(), invoiceId: ulid() }));
  const m = charges.length;
  const pay = (action: string) => charges.map((c) => ({ namespace, chargeId: c.id, action, lineId: c.lineId, invoiceId: c.invoiceId, transactionGroupId: `tg-${action}-${c.id}` }));
  const stages: QueueStage[] = [
    { queue: 'create-charge', payloads: charges.map((c) => chargePayload(namespace, c.id, '100')) },
    { queue: 'activate-charge', payloads: charges.map((c) => ({ namespace, chargeId: c.id })) },
    { queue: 'allocate-credit', payloads: allocationPayloads(namespace, charges.map((c) => c.id), 1, '10') },
    { queue: 'create-invoiced-usage', payloads: charges.map((c) => ({ namespace, chargeId: c.id, lineId: c.lineId, invoiceId: c.invoiceId, servicePeriod: PERIOD, totals: USAGE_TOTALS })) },
    { queue: 'payment', payloads: pay('authorize') },
    { queue: 'payment', payloads: pay('settle'), firstId: m + 1 },
  ];
  const queues = [...new Set(stages.map((s) => s.queue))];
  const measured = await runStages(ctx, `mixed${batchSize}`, { queues, batchSize, concurrency: batchSize === 1 ? 16 : ctx.opts.concurrency }, stages);
  const jobs = measured.reduce((s, x) => s + x.jobs, 0);
  const seconds = measured.reduce((s, x) => s + x.seconds, 0);
  const weighted = (k: keyof Measured) => measured.reduce((s, x) => s + (x[k] as number) * x.jobs, 0) / jobs;
  const total: Measured = {
    jobs,
    failed: measured.reduce((s, x) => s + x.failed, 0),
    rate: jobs / seconds,
    seconds,
    p50: Math.max(...measured.map((x) => x.p50)),
    p95: Math.max(...measured.map((x) => x.p95)),
    p99: Math.max(...measured.map((x) => x.p99)),
    firstFailure: measured.find((x) => x.firstFailure)?.firstFailure ?? null,
    queriesPerJob: weighted('queriesPerJob'),
    commitsPerJob: weighted('commitsPerJob'),
    redisScriptsPerJob: weighted('redisScriptsPerJob'),
    redisCommandsPerJob: weighted('redisCommandsPerJob'),
    workerCpuMsPerJob: weighted('workerCpuMsPerJob'),
    postgresCpuMsPerJob: weighted('postgresCpuMsPerJob'),
    redisCpuMsPerJob: weighted('redisCpuMsPerJob'),
    machineCpuMsPerJob: weighted('machineCpuMsPerJob'),
  };
  return { total, stages: measured };
}

/** Peak RSS of one batched worker process after the first `a` jobs and after all `b`. */
export async function peakRss(ctx: Ctx, batchSize: number): Promise<{ after: number[]; jobs: number[] }> {
  const [a, b] = ctx.opts.rssJobs;
  const namespace = `bench-rss-${ctx.run}`;
  const charges = await seedCharges(ctx.db.knex, namespace, Math.min(a, 20000));
  const perCharge = Math.ceil(b / charges.length);
  const all = allocationPayloads(namespace, charges, perCharge).slice(0, b);
  // Interleave charges so consecutive jobs hit different charges, as real traffic would.
  const payloads = Array.from({ length: b }, (_, i) => all[(i % charges.length) * perCharge + Math.floor(i / charges.length)]);
  const prefix = prefixFor('rss', ctx);
  const worker = await startWorkerProcess(workerSpec(ctx, prefix, { batchSize, keepCompleted: 1000 }));
  const after: number[] = [];
  try {
    for (const [from, to] of [[0, a], [a, b]]) {
      await produce({ redisUrl: ctx.redis.url, prefix, queue: 'allocate-credit', payloads: payloads.slice(from, to) }, 1000);
      await waitApplied(ctx.db, namespace, to);
      after.push((await worker.stats()).peakRss);
    }
  } finally {
    await worker.stop();
    await flush(ctx.redis.url);
  }
  return { after, jobs: [a, b] };
}

async function waitApplied(db: TestDatabase, namespace: string, n: number): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const [{ count }] = await db.knex('flat_fee_idempotency_keys').where({ queue: 'allocate-credit', namespace }).count<{ count: string }[]>('* as count');
    if (Number(count) >= n) return;
    if (Date.now() > deadline) throw new Error(`rss: only ${count} of ${n} jobs applied`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
