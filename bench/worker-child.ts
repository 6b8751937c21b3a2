import { Worker } from 'bullmq';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { createKnex } from '../src/db/knex';
import { redisOptions } from '../src/queues/connection';
import { RETENTION, startWorkers, stopWorkers } from '../src/queues/worker';
import { benchTracing } from './observability';
import { median } from './stats';

// The worker under test, in its own process so its RSS and CPU are its own. Driven over IPC by
// bench/run.ts: `stats` answers with counters, `stop` closes everything and exits.

const mode = process.argv[2] as 'flatfee' | 'noop';
const queues = (process.argv[3] ?? 'allocate-credit').split(',');
const env = process.env;
const logger = createLogger(env.LOG_LEVEL || 'warn', false);
// The worker's own configuration, as `start` reads it: the bench measures the defaults unless told otherwise.
const config = loadConfig(env);
const concurrency = mode === 'noop' ? Number(env.WORKER_CONCURRENCY || 8) : config.workerConcurrency;
const batchSize = Number(env.BATCH_SIZE || 50);
// Before the knex below: pg is instrumented when knex loads it.
const tracing = benchTracing(env.BENCH_TRACING);

let queries = 0;
let commits = 0;
let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
const sampler = setInterval(sample, 100);

const knex = createKnex({ databaseUrl: env.DATABASE_URL!, poolMax: config.dbPoolMax, applicationName: 'ffw-bench-worker' });
knex.on('query', (q: { sql?: string }) => {
  queries++;
  if (/(^|;)\s*commit;?\s*$/i.test(q.sql ?? '')) commits++;
});

const workers: Worker[] =
  mode === 'noop'
    ? queues.map((q) => new Worker(q, async () => ({}), { connection: redisOptions(env.REDIS_URL!, 'worker'), prefix: env.QUEUE_PREFIX, concurrency, ...RETENTION }))
    : startWorkers({ knex, logger, redisUrl: env.REDIS_URL!, prefix: env.QUEUE_PREFIX!, concurrency, queues, batchSize });

// BENCH_TRACE=1: time spent per statement (query sent → rows back), printed when the worker exits.
if (env.BENCH_TRACE) traceStatements();

function traceStatements(): void {
  const started = new Map<string, [number, string]>();
  const spent = new Map<string, [number, number]>();
  knex.on('query', (q: { __knexQueryUid: string; sql: string }) => started.set(q.__knexQueryUid, [performance.now(), q.sql.replace(/\s+/g, ' ').slice(0, 70)]));
  knex.on('query-response', (_r: unknown, q: { __knexQueryUid: string }) => {
    const s = started.get(q.__knexQueryUid);
    if (!s) return;
    started.delete(q.__knexQueryUid);
    const cur = spent.get(s[1]) ?? [0, 0];
    spent.set(s[1], [cur[0] + performance.now() - s[0], cur[1] + 1]);
  });
  process.on('exit', () => {
    for (const [sql, [ms, n]] of [...spent].sort((a, b) => b[1][0] - a[1][0])) {
      process.stderr.write(`[trace] ${ms.toFixed(0)} ms over ${n} statements, ${(ms / n).toFixed(2)} ms each: ${sql}\n`);
    }
  });
}

// BENCH_PHASES=1: where one job's time goes on an idle worker (jobs that overlapped another are left
// out), from BullMQ's events and the round trips knex reports; medians printed when the worker exits.
if (env.BENCH_PHASES) tracePhases();

function tracePhases(): void {
  const now = () => performance.timeOrigin + performance.now();
  const spans: number[][] = [];
  let current: { id: string | undefined; marks: number[] } | null = null;
  let overlapped = false;
  for (const w of workers) {
    w.on('active', (job) => {
      overlapped = current !== null;
      current = { id: job.id, marks: [job.timestamp, now()] };
    });
    w.on('completed', (job) => {
      if (current && current.id === job.id && !overlapped && current.marks.length === 6) spans.push([...current.marks, job.finishedOn ?? NaN]);
      if (current?.id === job.id) current = null;
    });
  }
  knex.on('query', () => current?.marks.push(now()));
  knex.on('query-response', () => current?.marks.push(now()));
  process.on('exit', () => {
    if (spans.length === 0) return;
    const phases: Array<[string, (m: number[]) => number]> = [
      ['enqueue → processor starts (BullMQ pickup)', (m) => m[1] - m[0]],
      ['processor starts → first round trip sent (validation, hash, batching, connection)', (m) => m[2] - m[1]],
      ['first round trip (BEGIN, locks, reads)', (m) => m[3] - m[2]],
      ['between the round trips (decide)', (m) => m[4] - m[3]],
      ['second round trip (write, COMMIT)', (m) => m[5] - m[4]],
      ['COMMIT answered → completion sent (finishedOn, whole ms)', (m) => m[6] - m[5]],
      ['enqueue → finishedOn (the latency row)', (m) => m[6] - m[0]],
    ];
    process.stderr.write(`[phases] ${spans.length} jobs that ran alone (warm-up included), medians in ms (enqueue and finishedOn are whole ms)\n`);
    for (const [name, of] of phases) process.stderr.write(`[phases] ${median(spans.map(of)).toFixed(2).padStart(6)}  ${name}\n`);
  });
}

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'stats') {
    sample();
    const cpu = process.cpuUsage();
    process.send!({ stats: { rss: process.memoryUsage().rss, peakRss, queries, commits, cpuMs: (cpu.user + cpu.system) / 1000 } });
  } else if (msg.cmd === 'stop') {
    clearInterval(sampler);
    await stopWorkers(workers, 10000, logger);
    await knex.destroy();
    await tracing?.shutdown();
    process.send!({ stopped: true }, () => process.exit(0));
  }
});

// The benchmark died (Ctrl-C): do not linger as an orphan holding connections.
process.on('disconnect', () => process.exit(1));
Promise.all(workers.map((w) => w.waitUntilReady())).then(() => process.send!({ ready: true }));
