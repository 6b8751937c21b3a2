import os from 'node:os';
import { parseArgs, Scenario } from './args';
import { preparePgbench } from './pgbench';
import { startRedis } from './redis-server';
import { buildReport, printReport, Row, writeReport } from './report';
import { engineAlone } from './engine-alone';
import { addOwnCeilingRatios, dropReference, prepareReference, ReferenceSetup, referenceRun, referenceSetup } from './reference';
import { allocateEndToEnd, bullmqNoop, bullmqNoopIdle, Ctx, Measured, mixedLifecycle, peakRss } from './scenarios';
import { median, percentile, round } from './stats';
import { closeAdmin, createTestDatabase } from '../test/helpers/db';

// `npm run bench -- [flags]`: throughput and latency as ratios to baselines measured in the same
// run on the same machine (bench/README.md). Figures belong here and in the README, never in tests.

const opts = parseArgs(process.argv.slice(2));
// Inherited by every worker process (bench/processes.ts forks with this environment).
process.env.METRICS_ENABLED = opts.metrics === 'off' ? 'false' : 'true';
process.env.BENCH_TRACING = opts.tracing;
const want = (s: Scenario) => opts.only.includes(s);
const rows = new Map<string, Row>();

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function add(scenario: string, m: Measured | { rate: number }, note?: string): void {
  const row = rows.get(scenario) ?? { scenario, rates: [], p50: [], p95: [], p99: [], extra: {}, note };
  row.rates.push(m.rate);
  if ('p50' in m) {
    row.p50!.push(m.p50);
    row.p95!.push(m.p95);
    row.p99!.push(m.p99);
    for (const k of ['queriesPerJob', 'commitsPerJob', 'redisScriptsPerJob', 'redisCommandsPerJob', 'workerCpuMsPerJob', 'postgresCpuMsPerJob', 'redisCpuMsPerJob', 'machineCpuMsPerJob', 'failed'] as const) (row.extra![k] ??= []).push(m[k]);
    if (m.failed > 0) row.note = `${m.failed} failed jobs in a run, e.g. ${m.firstFailure}`;
  }
  rows.set(scenario, row);
  log(`${scenario}: ${round(m.rate)} jobs/s${'p99' in m ? `, p99 ${round(m.p99, 1)} ms` : ''}`);
}

/** Jobs per second offered to an idle worker (and to its floors): one at a time, 50 ms apart. */
const IDLE_RATE = 20;

/** A latency-only row: percentiles of the given timings at the offered rate, nothing else measured. */
function latencyOnly(ms: number[], rate: number): Measured {
  return {
    jobs: ms.length, failed: 0, firstFailure: null, rate, seconds: ms.length / rate,
    p50: round(percentile(ms, 50), 2), p95: round(percentile(ms, 95), 2), p99: round(percentile(ms, 99), 2),
    queriesPerJob: NaN, commitsPerJob: NaN, redisScriptsPerJob: NaN, redisCommandsPerJob: NaN,
    workerCpuMsPerJob: NaN, postgresCpuMsPerJob: NaN, redisCpuMsPerJob: NaN, machineCpuMsPerJob: NaN,
  };
}

async function oneRun(ctx: Ctx, pgbench: Awaited<ReturnType<typeof preparePgbench>> | null, reference: ReferenceSetup | null): Promise<void> {
  const { batchSize, concurrency, jobs, jobsPerCharge, perJobJobs } = opts;
  // First, so its rows and this worker's meet the same machine within minutes of each other.
  if (reference) for (const { scenario, m, note } of await referenceRun(reference, opts.pgbenchSeconds)) add(scenario, m, note);
  if (pgbench && want('ceiling')) {
    add('ceiling-sql', { rate: await pgbench.allocate(opts.pgbenchSeconds) }, 'pgbench -M prepared -c 16, the allocate transaction (5 statements)');
    add('pgbench -N -c 8', { rate: await pgbench.simpleUpdate(opts.pgbenchSeconds) });
  }
  if (want('noop')) add('bullmq-noop', await bullmqNoop(ctx));
  if (want('engine')) {
    const note = 'the engine without BullMQ: allocate jobs handed to applyBatch in this process; p50/p95/p99 are per batch';
    add(`engine alone, no queue (batch ${batchSize})`, await engineAlone(ctx, batchSize, opts.partitions, jobs), note);
    add('engine alone, one job at a time', await engineAlone(ctx, 1, 1, Math.ceil(perJobJobs / 2)), note);
  }
  if (want('allocate')) add(`allocate-credit batched (batch ${batchSize})`, await allocateEndToEnd(ctx, { label: 'batched', jobs, perCharge: 1, batchSize, concurrency }));
  if (want('allocate') && opts.workers > 1) {
    add(`allocate-credit batched, ${opts.workers} worker processes`, await allocateEndToEnd(ctx, { label: 'batchedw', jobs, perCharge: 1, batchSize, concurrency, processes: opts.workers }));
  }
  if (want('contention')) {
    add(`allocate-credit batched, ${jobsPerCharge} jobs/charge`, await allocateEndToEnd(ctx, { label: 'contention', jobs, perCharge: jobsPerCharge, batchSize, concurrency }));
  }
  if (want('per-job')) {
    add(`allocate-credit one job per batch (conc 16)`, await allocateEndToEnd(ctx, { label: 'perjob', jobs: perJobJobs, perCharge: 1, batchSize: 1, concurrency: 16 }));
    add(`allocate-credit one job per batch, ${jobsPerCharge} jobs/charge`, await allocateEndToEnd(ctx, { label: 'perjobc', jobs: perJobJobs, perCharge: jobsPerCharge, batchSize: 1, concurrency: 16 }));
  }
  if (want('mixed')) add(`mixed lifecycle batched (6 jobs/charge)`, (await mixedLifecycle(ctx, batchSize, opts.mixedCharges)).total);
  if (want('mixed') && want('per-job')) {
    add(`mixed lifecycle one job per batch (6 jobs/charge)`, (await mixedLifecycle(ctx, 1, Math.ceil(opts.perJobJobs / 6))).total);
  }
  if (want('latency')) {
    const rate = IDLE_RATE;
    const [measured, warmup] = [rate * opts.latencySeconds, rate * opts.latencyWarmupSeconds];
    const idleNote = `${rate} jobs/s offered, ${opts.latencySeconds} s measured after ${opts.latencyWarmupSeconds} s of warm-up`;
    // What this machine charges a single job before any of the worker's own work: the queue's hops, and one
    // client running the allocate transaction (five statements, a durable COMMIT) with as long a pause between.
    add(`idle floor: bullmq-noop (${rate} jobs/s)`, await bullmqNoopIdle(ctx, rate, measured, warmup), `the same producer and rate, a processor that does nothing: ${idleNote}`);
    if (pgbench) {
      const all = await pgbench.allocateAtRate(rate, opts.latencySeconds + opts.latencyWarmupSeconds);
      add(`idle floor: pgbench allocate, 1 client (${rate} tx/s)`, latencyOnly(all.slice(warmup), rate), `pgbench -R ${rate} -c 1, each statement its own round trip, its schedule lag left out: ${idleNote}`);
    }
    const m = await allocateEndToEnd(ctx, { label: 'idle', jobs: measured, warmupJobs: warmup, perCharge: 1, batchSize, concurrency, rate });
    add(`latency, idle worker (${rate} jobs/s)`, m, `one job at a time: ${idleNote}`);
  }
  const maxRate = rows.get(`allocate-credit batched (batch ${batchSize})`)?.rates.at(-1);
  if (want('latency') && maxRate) {
    const rate = Math.max(1, Math.round(maxRate / 2));
    const m = await allocateEndToEnd(ctx, { label: 'latency', jobs: rate * opts.latencySeconds, warmupJobs: rate * opts.latencyWarmupSeconds, perCharge: 1, batchSize, concurrency, rate });
    add('latency at 50 % of max (batched)', m, `producer at half the batched allocate rate of the same run, ${opts.latencySeconds} s measured after ${opts.latencyWarmupSeconds} s of warm-up; the rate column is the offered load`);
  }
}

async function main(): Promise<void> {
  log(`options ${JSON.stringify(opts)}`);
  const reference = want('reference') ? referenceSetup() : null;
  const startLoad = os.loadavg()[0];
  const redis = await startRedis();
  const db = await createTestDatabase('bench_e2e');
  const pgbench = want('ceiling') || want('latency') ? await preparePgbench() : null;
  const createdReference = reference ? await prepareReference(reference) : false;
  const cleanup = async () => {
    await pgbench?.drop().catch(() => {});
    if (createdReference) await dropReference().catch(() => {});
    await db.drop().catch(() => {});
    await closeAdmin().catch(() => {});
    await redis.stop().catch(() => {});
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  let rss;
  try {
    for (let run = 1; run <= opts.runs; run++) {
      log(`run ${run} of ${opts.runs}`);
      await oneRun({ opts, redis, db, run }, pgbench, reference);
    }
    if (want('rss')) {
      log(`peak RSS after ${opts.rssJobs.join(' and ')} jobs`);
      const r = await peakRss({ opts, redis, db, run: 0 }, opts.batchSize);
      const mb = r.after.map((b) => round(b / 2 ** 20, 1));
      rss = { jobs: r.jobs, peakRssMb: mb, growth: round(mb[1] / mb[0] - 1, 3) };
    }
  } finally {
    await cleanup();
  }
  addOwnCeilingRatios([...rows.values()]);
  const report = buildReport(opts, [...rows.values()], rss, startLoad);
  printReport(report);
  log(`results written to ${writeReport(report, opts.resultsDir)}`);
  log(`medians over ${opts.runs} run(s); ceiling-sql ${round(median(rows.get('ceiling-sql')?.rates ?? []))} tx/s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
