import { App } from '../app';
import { migrateLatest } from '../db/migrate';
import { startWorkers, stopWorkers } from '../queues/worker';

/**
 * Runs the workers until SIGTERM/SIGINT, then drains: no new jobs are fetched, active ones get
 * SHUTDOWN_TIMEOUT_MS to finish (an interrupted one is redelivered and replays safely).
 */
export async function runWorker(app: App, options: { migrate: boolean; onStarted?: () => Promise<() => Promise<void>> }): Promise<void> {
  const { config, logger } = app;
  if (options.migrate) {
    const applied = await migrateLatest(app.knex);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
  }
  const workers = startWorkers({
    knex: app.knex,
    logger,
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    stalls: { lockDuration: config.workerLockDurationMs, stalledInterval: config.workerStalledIntervalMs, maxStalledCount: config.workerMaxStalledCount },
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const stopExtras = options.onStarted ? await options.onStarted() : async () => {};
  // batchSize 0 or 1: one transaction per job; above, group commit with more jobs in flight per queue.
  const mode = { batchSize: config.batchSize, jobsInFlightPerQueue: workers[0]?.concurrency };
  logger.info({ queues: workers.map((w) => w.name), concurrency: config.workerConcurrency, ...mode, prefix: config.queuePrefix }, 'worker started');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await stopExtras();
  await stopWorkers(workers, config.shutdownTimeoutMs, logger);
  await app.close();
  logger.info('stopped');
}
