import { App } from '../app';
import { migrateLatest } from '../db/migrate';
import type { Logger } from 'pino';
import { startWorkers, stopWorkers } from '../queues/worker';
import { addressOf, pingRedis } from '../queues/unavailable';
import { untilStopSignal } from './signals';

/**
 * Runs the workers until SIGTERM/SIGINT, then drains: no new jobs are fetched, active ones get
 * SHUTDOWN_TIMEOUT_MS to finish (an interrupted one is redelivered and replays safely).
 */
export async function runWorker(app: App, options: { migrate: boolean; onStarted?: () => Promise<() => Promise<void>> }): Promise<void> {
  const { config, logger } = app;
  // Listening from the start: a SIGTERM while Redis is awaited stops as cleanly as a later one.
  const stopSignal = untilStopSignal(logger);
  if (options.migrate) {
    const applied = await migrateLatest(app.knex);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  } else {
    // PostgreSQL unreachable at start is one line and exit 1 (the CLI names it), not jobs failing one by one.
    await app.knex.raw('select 1');
  }
  // The board (with /healthz answering 503) serves while Redis is awaited.
  const stopExtras = options.onStarted ? await options.onStarted() : async () => {};
  const redisUp = await Promise.race([waitForRedis(config.redisUrl, logger, stopSignal), stopSignal.then(() => false)]);
  if (!redisUp) {
    await stopExtras();
    await app.close();
    logger.info('stopped');
    return;
  }
  const workers = startWorkers({
    knex: app.knex,
    logger,
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    stalls: { lockDuration: config.workerLockDurationMs, stalledInterval: config.workerStalledIntervalMs, maxStalledCount: config.workerMaxStalledCount },
  });
  await Promise.race([Promise.all(workers.map((w) => w.waitUntilReady())), stopSignal]);
  logger.info({ queues: workers.map((w) => w.name), concurrency: config.workerConcurrency, batchSize: config.batchSize, prefix: config.queuePrefix }, 'worker started');

  await stopSignal;
  await stopExtras();
  await stopWorkers(workers, config.shutdownTimeoutMs, logger);
  await app.close();
  logger.info('stopped');
}

/**
 * Redis down at start: one line per retry, every 2 s (a Redis that comes back is picked up within
 * seconds: RELIABILITY 11 asks for 5), until it answers, then on.
 * Resolves true once Redis answers, false when a stop signal came first.
 */
export async function waitForRedis(redisUrl: string, logger: Logger, stopped: Promise<unknown>): Promise<boolean> {
  let stop = false;
  void stopped.then(() => (stop = true));
  const delay = 2000;
  while (!stop) {
    try {
      await pingRedis(redisUrl);
      return true;
    } catch (err) {
      if (stop) break;
      logger.warn(`waiting for Redis at ${addressOf(redisUrl)} (${(err as Error).message.replace(/^Redis unreachable at \S+: /, '')}), retrying in ${delay / 1000} s`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, delay)), stopped]);
    }
  }
  return false;
}
