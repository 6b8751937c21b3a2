import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createApp, withApp } from '../app';
import { balanceJson, chargeJson, currencyArgument, renderCharge } from './render';
import { realizedCredits } from '../db/balance';
import { migrateLatest, migrateLegacyBaseline } from '../db/migrate';
import { getCharge } from '../db/read-charge';
import { asPostgresProblem, ensureDatabase } from '../db/database';
import { isDomainError } from '../domain/errors';
import { FlatFeeQueues } from '../queues/producer';
import { pingRedis } from '../queues/unavailable';
import { QUEUE_NAMES, QueueName } from '../queues/registry';
import { configureRedisCluster } from '../queues/connection';
import { config, ENVIRONMENT } from '../config';
import { runWorker } from './worker-command';
import { boardAlongsideWorkers, runBoard } from './board-command';
import { runJobs, runRetry } from './jobs-command';
import { registerHistory } from './history';
import { registerExplain } from './explain';
import { legacyMigrationCommands } from './migrate-legacy';
import { startTracingFromEnv } from '../observability/tracing';

function readPayload(arg: string): unknown {
  const text = arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CommanderError(2, 'flatfee.bad_json', `payload is not valid JSON: ${(err as Error).message}`);
  }
}

function queueName(value: string): QueueName {
  if (!(QUEUE_NAMES as string[]).includes(value)) {
    throw new CommanderError(2, 'flatfee.bad_queue', `unknown queue "${value}"; one of: ${QUEUE_NAMES.join(', ')}`);
  }
  return value as QueueName;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}

/** `--help` names every environment variable the worker reads (src/config.ts). */
export function environmentHelp(): string {
  const width = Math.max(...ENVIRONMENT.map(([name]) => Math.min(name.length, 28)));
  return `\nEnvironment:\n${ENVIRONMENT.map(([name, what]) => `  ${name.length > width ? `${name}\n  ${''.padEnd(width)}` : name.padEnd(width)}  ${what}`).join('\n')}\n`;
}

export function buildProgram(): Command {
  const program = new Command('flatfee-worker')
    .description('Applies flat-fee billing charge jobs from BullMQ to PostgreSQL exactly once')
    .showHelpAfterError()
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .addHelpText('after', environmentHelp())
    // Every variable checked before a command connects anywhere (help and --version need none).
    .hook('preAction', () => configureRedisCluster(config().redisCluster, config().queuePrefix));

  program
    .command('start')
    .description('migrate to the latest schema, then run the workers and Bull Board (BOARD_PORT)')
    .action(async () => {
      await ensureDatabase(config().databaseUrl);
      const app = createApp();
      await runWorker(app, { migrate: true, onStarted: boardAlongsideWorkers(app) });
    });

  program
    .command('worker')
    .description('run one BullMQ worker per queue (no migration)')
    .action(async () => runWorker(createApp(), { migrate: false }));

  program
    .command('board')
    .description('serve Bull Board with /healthz and /metrics on BOARD_PORT (basic auth; no workers)')
    .action(async () => runBoard(createApp()));

  program
    .command('jobs')
    .description('list the newest jobs of a queue with their state and error code')
    .argument('<queue>', `one of: ${QUEUE_NAMES.join(', ')}`)
    .option('--failed', 'only failed jobs')
    .option('--limit <n>', 'how many jobs to show', positiveInt, 20)
    .option('--json', 'print JSON')
    .action(async (queue: string, opts: { failed?: boolean; limit: number; json?: boolean }) => runJobs(createApp(), queueName(queue), opts));

  program
    .command('retry')
    .description('move a failed job back to waiting, with its attempts reset')
    .argument('<queue>', `one of: ${QUEUE_NAMES.join(', ')}`)
    .argument('<jobId>')
    .action(async (queue: string, jobId: string) => runRetry(createApp(), queueName(queue), jobId));

  program
    .command('migrate')
    .description('apply database migrations')
    .option('--legacy-baseline', 'apply only the migrations that create the legacy shape (SPEC §7)')
    .action(async (opts: { legacyBaseline?: boolean }) => {
      await ensureDatabase(config().databaseUrl);
      await withApp(async (app) => {
        const applied = opts.legacyBaseline ? await migrateLegacyBaseline(app.knex) : await migrateLatest(app.knex);
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
      }, 'flatfee-worker-migrate');
    });

  program
    .command('enqueue')
    .description('validate a payload locally and enqueue it; prints the job id')
    .argument('<queue>', `one of: ${QUEUE_NAMES.join(', ')}`)
    .argument('<payload>', 'the payload as JSON, or @file')
    .option('--job-id <id>', 'a custom BullMQ job id')
    .action(async (queue: string, payload: string, opts: { jobId?: string }) => {
      const name = queueName(queue);
      const data = readPayload(payload);
      const app = createApp();
      const queues = new FlatFeeQueues({ redisUrl: app.config.redisUrl, prefix: app.config.queuePrefix });
      try {
        // A refused connection fails at once, not after the producer's deadline.
        await pingRedis(app.config.redisUrl);
        // BullMQ answers an existing id with that job and adds nothing: say so rather than print it as new.
        const existing = opts.jobId ? await queues.outcome(name, opts.jobId) : null;
        if (existing) {
          throw new CommanderError(1, 'flatfee.job_exists', `job ${opts.jobId} already exists on ${name} (state ${existing.state}); nothing enqueued`);
        }
        const job = await queues.enqueue(name, data as never, opts.jobId ? { jobId: opts.jobId } : {});
        process.stdout.write(`${job.id}\n`);
      } finally {
        await queues.close();
        await app.close();
      }
    });

  program
    .command('charge')
    .description('show a charge with its current and prior runs')
    .argument('<namespace>')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (namespace: string, id: string, opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const charge = await getCharge(app.knex, namespace, id, { expand: ['realizations', 'detailedLines'] });
        if (!charge) throw new CommanderError(1, 'flatfee.not_found', `charge not found [namespace=${namespace} charge_id=${id}]`);
        process.stdout.write(opts.json ? `${JSON.stringify(chargeJson(charge), null, 2)}\n` : renderCharge(charge));
      });
    });

  program
    .command('balance')
    .description("a customer's realized credits in one currency")
    .argument('<namespace>')
    .argument('<customerId>')
    .argument('<currency>')
    .option('--json', 'print JSON')
    .action(async (namespace: string, customerId: string, currency: string, opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const code = currencyArgument(currency);
        const total = await realizedCredits(app.knex, namespace, customerId, code);
        process.stdout.write(opts.json ? `${JSON.stringify(balanceJson(total))}\n` : `${total.toFixed()} ${code}\n`);
      });
    });

  registerHistory(program);
  registerExplain(program);
  legacyMigrationCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // Before any knex exists: pg is instrumented when it is loaded. Nothing is loaded without OTEL_*.
  const tracing = startTracingFromEnv();
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code.startsWith('flatfee.')) process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode || 1;
    }
    let problem = err;
    try {
      problem = asPostgresProblem(err, config().databaseUrl);
    } catch {
      // a bad configuration: err already says so
    }
    process.stderr.write(`error: ${isDomainError(problem) || problem instanceof Error ? problem.message : String(problem)}\n`);
    return 1;
  } finally {
    // Flushes the spans still batched before the process exits.
    await tracing?.shutdown();
  }
}
