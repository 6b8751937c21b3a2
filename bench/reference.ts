import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureDatabase } from '../src/db/database';
import { adminKnex, urlFor } from '../test/helpers/db';
import { Measured } from './scenarios';
import { median } from './stats';

// The outside yardstick of ../shared/bench-anchors (its README), run from its own folder in the
// same invocation as this worker's rows: the same allocate job on a bare set-based batch and on one
// with validation, the amount rule, a journal row and a job log line per job, next to that folder's
// own pgbench ceiling. Its packages live outside the project ($PEERBENCH, see that README).

const run = promisify(execFile);
const DATABASE = 'peerbench_app';
const REFERENCE_CEILING = 'reference: pgbench allocate c16 (its ceiling)';
const REFERENCE_BATCHES = ['reference: bare set-based batch', 'reference: full batch'];

export interface ReferenceSetup {
  dir: string;
  nodePath: string;
}

/** Where the anchors and their packages are, or an error that says how to install them. */
export function referenceSetup(): ReferenceSetup {
  const dir = path.resolve(process.env.BENCH_ANCHORS ?? path.join(__dirname, '../../shared/bench-anchors'));
  const peerbench = process.env.PEERBENCH ?? path.join(process.env.TMPDIR ?? '/tmp', 'peerbench');
  const nodePath = path.join(peerbench, 'node_modules');
  if (!existsSync(path.join(dir, 'bench.js'))) throw new Error(`--only reference: no bench-anchors at ${dir} (set BENCH_ANCHORS)`);
  if (!existsSync(path.join(nodePath, 'bullmq'))) throw new Error(`--only reference: no packages in ${nodePath}; install them as ${path.join(dir, 'README.md')} says (or set PEERBENCH)`);
  return { dir, nodePath };
}

async function node(setup: ReferenceSetup, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: setup.dir, env: { ...process.env, NODE_PATH: setup.nodePath }, maxBuffer: 16 * 2 ** 20 });
  return stdout.trim().split('\n').at(-1) ?? '';
}

/** Its scripts print one JSON line last. */
async function nodeJson(setup: ReferenceSetup, args: string[]): Promise<Record<string, unknown>> {
  const line = await node(setup, args);
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`bench-anchors ${args[0]} printed no result line: ${line.slice(0, 200)}`);
  }
}

/** Its database with the schema and 20,000 charges (each run of its scripts resets the tables). Returns whether it was created here. */
export async function prepareReference(setup: ReferenceSetup): Promise<boolean> {
  const created = await ensureDatabase(urlFor(DATABASE));
  await node(setup, ['setup.js', DATABASE]);
  return created;
}

export async function dropReference(): Promise<void> {
  await adminKnex().raw(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
}

type Cores = { node?: number; postgres?: number; redis?: number; pgbench?: number; machine_busy?: number };

function measured(r: Record<string, unknown>, rate: number, jobs: number): Measured {
  const cores = (r.cpu_cores ?? {}) as Cores;
  const perJob = (c: number | undefined) => ((c ?? 0) / rate) * 1000;
  // pgbench's line has no node process, and its Redis figure is idle noise: both stay blank.
  const queued = cores.node !== undefined;
  return {
    jobs,
    failed: Number(r.failed ?? 0),
    firstFailure: null,
    rate,
    seconds: jobs / rate,
    p50: Number(r.p50_ms ?? NaN),
    p95: NaN,
    p99: Number(r.p99_ms ?? NaN),
    queriesPerJob: Number(r.pg_rt_per_job ?? NaN),
    commitsPerJob: Number(r.commits_per_job ?? NaN),
    redisScriptsPerJob: Number(r.redis_sent_per_job ?? NaN),
    redisCommandsPerJob: Number(r.redis_srv_ops_per_job ?? NaN),
    workerCpuMsPerJob: queued ? perJob(cores.node) : NaN,
    postgresCpuMsPerJob: perJob(cores.postgres),
    redisCpuMsPerJob: queued ? perJob(cores.redis) : NaN,
    machineCpuMsPerJob: perJob(cores.machine_busy),
  };
}

/** One run of each reference row: its pgbench ceiling, the bare batch and the full batch (20,000 jobs, 50 per batch, 2 loops). */
export async function referenceRun(setup: ReferenceSetup, seconds: number): Promise<Array<{ scenario: string; m: Measured; note: string }>> {
  const pgbench = await nodeJson(setup, [
    'pgrun.js', DATABASE, 'alloc-prepared-c16', '--',
    '-h', '127.0.0.1', '-U', 'postgres', '-n', '-M', 'prepared', '-c', '16', '-j', '2', '-T', String(seconds), '-D', 'nch=20000', '-f', 'allocate.sql', DATABASE,
  ]);
  const ceiling = Number(pgbench.tps);
  const batch = async (mode: string) => {
    const r = await nodeJson(setup, ['bench.js', mode, '2', 'k=50', 'loops=2', 'n=20000']);
    return measured(r, Number(r.jobs_s), Number(r.n ?? 20000));
  };
  const bare = await batch('bull-batchset');
  const full = await batch('bull-batchfull');
  return [
    { scenario: REFERENCE_CEILING, m: measured(pgbench, ceiling, Number(pgbench.xacts)), note: 'bench-anchors pgrun.js: 20,000 charges, its own allocate.sql' },
    { scenario: REFERENCE_BATCHES[0], m: bare, note: 'bench-anchors bull-batchset, 50 per batch, 2 loops' },
    { scenario: REFERENCE_BATCHES[1], m: full, note: 'bench-anchors bull-batchfull (validation, amount rule, journal row, job log line)' },
  ];
}

/** After the last run: each reference batch's note gains its median over the median of its own ceiling. */
export function addOwnCeilingRatios(rows: Array<{ scenario: string; rates: number[]; note?: string }>): void {
  const ceiling = rows.find((r) => r.scenario === REFERENCE_CEILING);
  if (!ceiling) return;
  for (const row of rows.filter((r) => REFERENCE_BATCHES.includes(r.scenario))) {
    row.note = `${row.note}: ${(median(row.rates) / median(ceiling.rates)).toFixed(2)}× its own ceiling`;
  }
}
