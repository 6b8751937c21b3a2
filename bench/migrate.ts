import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { Command } from 'commander';
import knexFactory, { Knex } from 'knex';
import { loadConfig } from '../src/config';
import { createKnex, MIGRATIONS_DIRECTORY } from '../src/db/knex';
import { migrateLatest, migrateLegacyBaseline } from '../src/db/migrate';
import { seedLegacy } from '../src/db/legacy-migration-seed';
import { redisOptions } from '../src/queues/connection';
import { FlatFeeQueues } from '../src/queues/producer';
import { QUEUE_NAMES } from '../src/queues/registry';
import { urlFor } from '../test/helpers/db';

// `npm run bench:migrate -- --charges 100000,1000000`: for each size, seeds the legacy shape (kept as
// a template database between runs), upgrades the schema, then has a real worker process migrate it
// and prints charges/s, seconds and the worker's peak RSS side by side. Not part of `npm test`.

const BIN = path.resolve(__dirname, '../bin/flatfee-worker.js');
const SEED_VERSION = createHash('sha256').update(readFileSync(path.resolve(__dirname, '../src/db/legacy-migration-seed.ts'))).digest('hex').slice(0, 6);
const config = loadConfig();

interface Row {
  charges: number;
  seedSeconds: number | null;
  seconds: number;
  /** Of which the final whole-scope verification. */
  verifySeconds: number;
  chargesPerSecond: number;
  peakRssMb: number;
  rssAtStartMb: number;
  /** RSS at 10% and at 100% of the charges: flat memory means these two are close, whatever N. */
  rssAt10Mb: number;
  rssAt100Mb: number;
  /** A stalled event means the worker's event loop or lock renewal fell behind (RELIABILITY #15). */
  stalls: number;
  rows: Record<string, unknown>;
}

function migrationsFingerprint(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIRECTORY).sort()) hash.update(file).update(readFileSync(path.join(MIGRATIONS_DIRECTORY, file)));
  return hash.digest('hex').slice(0, 6);
}

/** The seeded and upgraded database, built once per size, seed generator and migrations. */
async function seededTemplate(admin: Knex, charges: number, reseed: boolean): Promise<{ name: string; seedSeconds: number | null }> {
  const name = `ffw_bench_seed_${charges}_${SEED_VERSION}_${migrationsFingerprint()}`;
  const exists = (await admin.raw('SELECT 1 FROM pg_database WHERE datname = ?', [name])).rows.length > 0;
  if (exists && !reseed) return { name, seedSeconds: null };
  await admin.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.raw(`CREATE DATABASE "${name}"`);
  const knex = createKnex({ databaseUrl: urlFor(name), poolMax: 2, applicationName: 'flatfee-bench-seed' });
  const started = Date.now();
  try {
    await migrateLegacyBaseline(knex);
    await seedLegacy(knex, { charges, namespaces: ['ns-a', 'ns-b', 'ns-c', 'ns-d'], onChunk: (n) => process.stderr.write(`\rseeding ${n}/${charges}`) });
    process.stderr.write('\n');
    await migrateLatest(knex);
    // A live database has statistics; without them the planner guesses at every batch.
    await knex.raw('VACUUM ANALYZE');
  } finally {
    await knex.destroy();
  }
  return { name, seedSeconds: (Date.now() - started) / 1000 };
}

function rssKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
}

async function startWorker(databaseUrl: string, prefix: string) {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info', FLATFEE_FAULT: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  return child;
}

interface BenchOptions {
  batchSize: number;
  reseed: boolean;
  /** A database already seeded and upgraded, used as it is instead of a seeded template. */
  template?: string;
  /** Keep the migrated database for inspection. */
  keep: boolean;
}

async function migrateOnce(admin: Knex, charges: number, options: BenchOptions): Promise<Row> {
  const { name: template, seedSeconds } = options.template
    ? { name: options.template, seedSeconds: null }
    : await seededTemplate(admin, charges, options.reseed);
  const database = `ffw_bench_run_${randomBytes(3).toString('hex')}`;
  await admin.raw(`CREATE DATABASE "${database}" TEMPLATE "${template}"`);
  const prefix = `ffw-bench-${randomBytes(3).toString('hex')}`;
  const worker = await startWorker(urlFor(database), prefix);
  const queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix });
  const events = new QueueEvents('migrate-legacy-flat-fees', { connection: redisOptions(config.redisUrl, 'worker'), prefix });
  try {
    await events.waitUntilReady();
    const rssAtStartMb = rssKb(worker.pid!, 'VmRSS') / 1024;
    const started = process.hrtime.bigint();
    const job = await queues.enqueue('migrate-legacy-flat-fees', { batchSize: options.batchSize }, { attempts: 1 });
    let verifyStarted = 0n;
    let stalls = 0;
    let rssAt10Mb = 0;
    let rssAt100Mb = 0;
    events.on('stalled', () => (stalls += 1));
    events.on('progress', ({ data }) => {
      const p = data as { chargesDone?: number; chargesTotal?: number; phase?: string };
      if (p.phase === 'verifying' && verifyStarted === 0n) verifyStarted = process.hrtime.bigint();
      const rss = rssKb(worker.pid!, 'VmRSS') / 1024;
      if (rssAt10Mb === 0 && (p.chargesDone ?? 0) >= charges / 10) rssAt10Mb = rss;
      if (p.phase === 'migrating' && p.chargesDone === charges) rssAt100Mb = rss;
      process.stderr.write(`\r${p.phase} ${p.chargesDone}/${p.chargesTotal}  rss ${Math.round(rss)} MB   `);
    });
    const result = (await job.waitUntilFinished(events)) as Record<string, unknown>;
    const finished = process.hrtime.bigint();
    const seconds = Number(finished - started) / 1e9;
    const verifySeconds = verifyStarted === 0n ? 0 : Number(finished - verifyStarted) / 1e9;
    process.stderr.write('\n');
    return { charges, seedSeconds, seconds, verifySeconds, chargesPerSecond: charges / seconds, peakRssMb: rssKb(worker.pid!, 'VmHWM') / 1024, rssAtStartMb, rssAt10Mb, rssAt100Mb, stalls, rows: result };
  } finally {
    // The benchmark shares the machine's Redis: leave none of its keys behind.
    if (worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await events.close();
    await Promise.all(QUEUE_NAMES.map((q) => queues.queue(q).obliterate({ force: true })));
    await queues.close();
    if (options.keep) process.stderr.write(`kept database ${database}\n`);
    else await admin.raw(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  }
}

function printTable(rows: Row[]): void {
  const fmt = (n: number, d = 1) => n.toFixed(d);
  process.stdout.write('charges    seconds  (verify)  charges/s  peak RSS MB  RSS MB at start / 10% / 100%  stalls  seed s\n');
  for (const r of rows) {
    process.stdout.write(
      `${String(r.charges).padEnd(10)} ${fmt(r.seconds).padStart(7)}  ${fmt(r.verifySeconds).padStart(8)}  ${fmt(r.chargesPerSecond, 0).padStart(9)}  ${fmt(r.peakRssMb).padStart(11)}  ${`${fmt(r.rssAtStartMb)} / ${fmt(r.rssAt10Mb)} / ${fmt(r.rssAt100Mb)}`.padStart(27)}  ${String(r.stalls).padStart(6)}  ${r.seedSeconds === null ? 'reused' : fmt(r.seedSeconds)}\n`,
    );
  }
  for (const r of rows) process.stdout.write(`${r.charges}: ${JSON.stringify(r.rows)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command('bench-migrate')
    .option('--charges <list>', 'comma-separated sizes', '100000')
    .option('--batch-size <n>', 'the job batchSize', '2000')
    .option('--reseed', 'seed again even if a template exists')
    .option('--template <database>', 'migrate a copy of this seeded, upgraded database instead')
    .option('--keep', 'keep the migrated database')
    .parse(argv)
    .opts<{ charges: string; batchSize: string; reseed?: boolean; template?: string; keep?: boolean }>();
  const admin = knexFactory({ client: 'pg', connection: urlFor('postgres'), pool: { min: 0, max: 1 } });
  const rows: Row[] = [];
  try {
    for (const charges of opts.charges.split(',').map(Number)) rows.push(await migrateOnce(admin, charges, { batchSize: Number(opts.batchSize), reseed: opts.reseed ?? false, template: opts.template, keep: opts.keep ?? false }));
  } finally {
    await admin.destroy();
  }
  printTable(rows);
}

main(process.argv).catch((err) => {
  process.stderr.write(`error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
