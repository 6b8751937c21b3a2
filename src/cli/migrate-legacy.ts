import { Job, QueueEvents } from 'bullmq';
import { Presets, SingleBar } from 'cli-progress';
import { Command, CommanderError } from 'commander';
import { createApp, withApp } from '../app';
import { dropLegacyTables } from '../db/legacy-migration-drop';
import { MigrationProgress, tableAgrees } from '../domain/legacy-migration';
import { redisOptions } from '../queues/connection';
import { FlatFeeQueues } from '../queues/producer';
import { pingRedis } from '../queues/unavailable';

// The operator's side of SPEC §7: enqueue the migration job, follow it with a progress bar, print
// its report; and, once it is done, the guarded drop of the legacy tables.

const QUEUE = 'migrate-legacy-flat-fees';

interface MigrateOptions {
  dryRun?: boolean;
  batchSize?: string;
  namespace?: string;
}

function batchSizeOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10000) throw new CommanderError(2, 'flatfee.bad_batch_size', `--batch-size must be an integer from 1 to 10000, got "${raw}"`);
  return n;
}

/** Seconds without a progress event after which the bar says the job may have no worker. */
export const STALL_SECONDS = 15;

/** The bar's phase: the job's own, or a question once nothing has moved for STALL_SECONDS. */
export function phaseText(phase: string, sinceProgressMs: number): string {
  const idle = Math.floor(sinceProgressMs / 1000);
  return idle >= STALL_SECONDS ? `no progress for ${idle} s — is a worker running?` : phase;
}

/** The ETA once there is a rate to base it on; '-' before (cli-progress shows "NFs" then). */
export function etaText(done: number, total: number, elapsedMs: number): string {
  if (done <= 0 || elapsedMs <= 0 || total <= done) return done > 0 && total <= done ? '0s' : '-';
  return `${Math.ceil(((total - done) * elapsedMs) / done / 1000)}s`;
}

/** Charges done / total, rate and ETA on stderr; stdout keeps the report. */
function follow(events: QueueEvents, job: Job): { bar: SingleBar; last: () => MigrationProgress | null; stop: () => void } {
  const format = 'charges [{bar}] {value}/{total} | {rate} charges/s | ETA {remaining} | {phase}';
  // Piped to a log, a line every few seconds instead of a redrawn bar.
  const bar = new SingleBar({ format, etaBuffer: 20, hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 }, Presets.shades_classic);
  const started = Date.now();
  let last: MigrationProgress | null = null;
  let lastAt = Date.now();
  let phase = 'waiting for a worker';
  bar.start(1, 0, { rate: 0, remaining: '-', phase });
  events.on('progress', ({ jobId, data }) => {
    if (jobId !== job.id || typeof data !== 'object') return;
    last = data as unknown as MigrationProgress;
    lastAt = Date.now();
    phase = last.phase;
    const rate = Math.round(last.chargesDone / Math.max((Date.now() - started) / 1000, 0.001));
    bar.setTotal(Math.max(last.chargesTotal, 1));
    bar.update(last.chargesDone, { rate, phase, remaining: etaText(last.chargesDone, last.chargesTotal, Date.now() - started) });
  });
  // A worker that died (or never ran) sends nothing: say so instead of a frozen bar.
  const watch = setInterval(() => bar.update({ phase: phaseText(phase, Date.now() - lastAt) }), 1000);
  return { bar, last: () => last, stop: () => clearInterval(watch) };
}

/** A migration job already waiting or running: a second one would run beside it. */
async function activeMigration(queues: FlatFeeQueues): Promise<Job | null> {
  const [job] = await queues.queue(QUEUE).getJobs(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'], 0, 0);
  return job ?? null;
}

function report(result: Record<string, unknown>, progress: MigrationProgress | null): string {
  const lines = [`${result.dryRun ? 'would migrate' : 'migrated'}: ${['charges', 'runs', 'allocations', 'detailedLines', 'invoicedUsages', 'payments'].map((k) => `${k} ${result[k]}`).join(', ')}`];
  for (const check of progress?.verification?.tables ?? []) {
    lines.push(`  ${check.table.padEnd(15)} legacy ${check.legacy.count} rows / ${check.legacy.sum}   migrated ${check.migrated.count} rows / ${check.migrated.sum}   ${tableAgrees(check) ? 'ok' : 'MISMATCH'}`);
  }
  lines.push(`verified: ${result.verified}${result.replayed ? ' (replayed: this key already finished)' : ''}`);
  return `${lines.join('\n')}\n`;
}

async function migrateLegacy(opts: MigrateOptions): Promise<void> {
  const app = createApp();
  await pingRedis(app.config.redisUrl).catch(async (err) => {
    await app.close();
    throw err;
  });
  const queues = new FlatFeeQueues({ redisUrl: app.config.redisUrl, prefix: app.config.queuePrefix });
  const events = new QueueEvents(QUEUE, { connection: redisOptions(app.config.redisUrl, 'worker'), prefix: app.config.queuePrefix });
  try {
    await events.waitUntilReady();
    const batchSize = batchSizeOf(opts.batchSize);
    const payload = {
      dryRun: opts.dryRun ?? false,
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
    };
    const running = await activeMigration(queues);
    if (running) {
      throw new CommanderError(1, 'flatfee.migration_running', `migration job ${running.id} is already ${await running.getState()}; wait for it (flatfee-worker jobs ${QUEUE}) instead of starting a second one`);
    }
    const job = await queues.enqueue(QUEUE, payload);
    // A dry run only counts: there is no progress to draw.
    const { bar, last, stop } = payload.dryRun ? { bar: null, last: () => null, stop: () => undefined } : follow(events, job);
    try {
      const result = (await job.waitUntilFinished(events)) as Record<string, unknown>;
      stop();
      bar?.stop();
      process.stdout.write(report(result, last()));
    } catch (err) {
      stop();
      bar?.stop();
      throw new CommanderError(1, 'flatfee.migration_failed', `migration job ${job.id} failed: ${(err as Error).message}`);
    }
  } finally {
    await events.close();
    await queues.close();
    await app.close();
  }
}

async function dropLegacy(): Promise<void> {
  await withApp(async (app) => {
    const { dropped } = await dropLegacyTables(app.knex);
    process.stdout.write(dropped.length ? `dropped: ${dropped.join(', ')}\n` : 'the legacy tables are already gone\n');
  }, 'flatfee-worker-migrate');
}

/** Registers migrate-legacy and drop-legacy-tables on the program. */
export function legacyMigrationCommands(program: Command): Command {
  program
    .command('migrate-legacy')
    .description('enqueue the legacy flat-fee migration job and follow it with a progress bar (a worker must be running)')
    .option('--dry-run', 'count what would move; write nothing')
    .option('--batch-size <n>', 'charges per batch transaction (1-10000, default 1000)')
    .option('--namespace <namespace>', 'migrate one namespace only')
    .action(migrateLegacy);
  program
    .command('drop-legacy-tables')
    .description('drop the legacy realization tables; refuses while any legacy charge is unmigrated or unverified')
    .action(dropLegacy);
  return program;
}
