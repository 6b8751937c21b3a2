import { DelayedError, Job, MetricsTime, UnrecoverableError, Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { DomainError, isDomainError } from '../domain/errors';
import { isTransientFault } from '../db/pg-errors';
import { batchSettingsFrom, retentionFrom } from '../config';
import { redisOptions } from './connection';
import { outageReporter } from './unavailable';
import { DelayJob, JobResult } from '../domain/decision';
import { jobDefinition, QUEUE_NAMES } from './registry';
import type { JournalEntry } from '../domain/journal';
import { jobLogFailed, JobLogWrite, logToJob } from '../engine/journal-recorder';
import { JobLogWriter } from './job-log';
import { CompletionWrites } from './completion-writes';
import { createBatchRunner, JobRunner } from '../engine/batch-runner';
import { enableProcessMetrics, observeCompleted, observeFailed } from '../observability/metrics';
import { watchDbPool, watchRedis } from '../observability/resources';
import { activeTelemetry } from '../observability/tracing';

export interface WorkerDeps {
  knex: Knex;
  logger: Logger;
  redisUrl: string;
  prefix: string;
  /** Jobs of one queue in flight at once (WORKER_CONCURRENCY); batches of up to batchSize are formed from them. */
  concurrency: number;
  queues?: readonly string[];
  /** Jobs per transaction at most (BATCH_SIZE, default 50). */
  batchSize?: number;
  /** BullMQ lock/stall options; unset keeps BullMQ's defaults (30 s, 30 s, 1). */
  stalls?: { lockDuration?: number; stalledInterval?: number; maxStalledCount?: number };
}

/** Finished jobs kept for callers and operators; bounded so a burst cannot fill Redis (SPEC §3). */
const retention = retentionFrom();
export const RETENTION = {
  removeOnComplete: { count: retention.keepCompletedJobs },
  removeOnFail: { count: retention.keepFailedJobs },
};

const DELAY_MARK = 'delayedUntil';

function resumedAfterDelay(job: Job): boolean {
  const progress = job.progress as Record<string, unknown> | number | null;
  return typeof progress === 'object' && progress !== null && typeof progress[DELAY_MARK] === 'string';
}

/**
 * The only place where outcomes become BullMQ's: retried domain codes and transient faults are
 * plain errors (retried with the job's backoff), every other domain code is an UnrecoverableError,
 * a requested delay moves the job to the delayed set. Messages start with the code.
 */
export async function toBullMqOutcome(err: unknown, job: Job, token: string | undefined): Promise<Error> {
  if (err instanceof DelayJob) {
    await job.updateProgress({ [DELAY_MARK]: err.until.toISOString() });
    await job.moveToDelayed(err.until.getTime(), token);
    return new DelayedError(err.message);
  }
  if (isDomainError(err)) {
    return err.retried ? new Error(err.message, { cause: err }) : new UnrecoverableError(err.message);
  }
  if (err instanceof Error) return err;
  return new Error(String(err));
}

export function errorCodeOf(err: unknown): string | null {
  if (err instanceof DomainError) return err.code;
  if (isTransientFault(err)) return 'transient_fault';
  return null;
}

export function createProcessor(deps: Pick<WorkerDeps, 'knex' | 'logger'>, run: JobRunner, writeLog?: JobLogWrite, completions?: CompletionWrites) {
  return async (job: Job, token?: string): Promise<JobResult> => {
    const started = performance.now();
    const def = jobDefinition(job.queueName);
    // Built only for a line that is written: at full load this runs thousands of times a second.
    const fields = () => {
      const chargeId = (job.data as { chargeId?: unknown; id?: unknown })?.chargeId ?? (job.data as { id?: unknown })?.id;
      return { queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1, chargeId };
    };
    const ms = () => Math.round((performance.now() - started) * 1000) / 1000;
    let entry: JournalEntry | null = null;
    try {
      if (!def || job.name !== job.queueName) {
        throw new DomainError('unknown_job', `no handler for job "${job.name}" on queue "${job.queueName}"`);
      }
      const result = await run(def, job.data, { knex: deps.knex, logger: deps.logger, job, jobId: job.id ?? null, resumedAfterDelay: resumedAfterDelay(job), onJournal: (e) => (entry = e) });
      observeCompleted(job, started, result.replayed);
      await logToJob(job, entry, deps.logger, writeLog);
      if (deps.logger.isLevelEnabled('info')) {
        const f = fields();
        deps.logger.info({ ...f, chargeId: f.chargeId ?? result.chargeId, durationMs: ms(), outcome: result.replayed ? 'replayed' : 'applied' }, 'job completed');
      }
      return result;
    } catch (err) {
      await logToJob(job, entry, deps.logger, writeLog);
      const outcome = await toBullMqOutcome(err, job, token);
      observeFailed(job, started, errorCodeOf(err), outcome);
      if (outcome instanceof DelayedError) {
        deps.logger.info({ ...fields(), durationMs: ms(), outcome: 'delayed' }, outcome.message);
      } else {
        const level = outcome instanceof UnrecoverableError || errorCodeOf(err) === null ? 'error' : 'warn';
        deps.logger[level]({ ...fields(), durationMs: ms(), errorCode: errorCodeOf(err), err: outcome }, 'job failed');
      }
      throw outcome;
    } finally {
      // Whatever BullMQ writes next for this job (its completion or failure) leaves with the turn's others.
      completions?.hold(job.queueName);
    }
  };
}

/** One BullMQ Worker per queue (SPEC §3: the queue name is the job kind). */
export function startWorkers(deps: WorkerDeps): Worker[] {
  const batchSize = deps.batchSize ?? batchSettingsFrom().size;
  const logs = new JobLogWriter((job, _line, err) => jobLogFailed(deps.logger, job, err));
  const completions = new CompletionWrites();
  const processor = createProcessor(deps, createBatchRunner(deps, batchSize), (job, line) => logs.write(job, line), completions);
  enableProcessMetrics();
  watchDbPool(deps.knex);
  const onError = outageReporter(deps.redisUrl, (line) => deps.logger.warn(line), (queue, err) => deps.logger.error({ queue, err }, 'worker error'));
  return (deps.queues ?? QUEUE_NAMES).map((queue) => {
    const worker = new Worker(queue, processor, {
      connection: redisOptions(deps.redisUrl, 'worker'),
      prefix: deps.prefix,
      // A batch fills only from jobs in flight together (batch-runner.ts).
      concurrency: deps.concurrency,
      ...deps.stalls,
      ...RETENTION,
      // Per-minute completed/failed counts (about 120 KB per queue): without them BullMQ's
      // Prometheus export, served on the board's /metrics, reports 0 completed and 0 failed forever.
      metrics: { maxDataPoints: MetricsTime.TWO_WEEKS },
      telemetry: activeTelemetry(),
    });
    watchRedis(worker);
    worker.on('error', (err) => onError(queue, err));
    logs.attach(queue, worker.getBackend());
    completions.attach(queue, worker.getBackend());
    return worker;
  });
}

/** Stops fetching, waits for active jobs up to the timeout, then forces the close. */
export async function stopWorkers(workers: Worker[], timeoutMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const closed = Promise.all(workers.map((w) => w.close())).then(() => 'closed' as const);
  const outcome = await Promise.race([closed, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    logger.warn({ timeoutMs }, 'active jobs did not finish in time; forcing close (they will be redelivered)');
    await Promise.all(workers.map((w) => w.close(true)));
  }
}
