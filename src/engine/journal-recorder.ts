import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors';
import { chargeIdOf, JournalEntry, summarize } from '../domain/journal';
import { appendEntry } from '../db/journal';
import { isTransientFault } from '../db/pg-errors';
import { DelayJob } from '../domain/decision';

/** What every entry of one delivery shares. */
export type JournalScope = Pick<JournalEntry, 'queue' | 'jobId' | 'attempt' | 'idempotencyKey' | 'payloadHash' | 'namespace' | 'startedAt'>;

const MAX_MESSAGE = 2000;

export function attemptOf(job: Job | null): number | null {
  if (!job) return null;
  return job.attemptsStarted > 0 ? job.attemptsStarted : job.attemptsMade + 1;
}

function rejectionCode(err: unknown): string {
  if (err instanceof DomainError) return err.code;
  return isTransientFault(err) ? 'transient_fault' : 'internal_error';
}

/**
 * The effect rolled back, so the `rejected` entry gets its own small transaction. A delay is not a
 * rejection (the job comes back). If even this write fails (the database is down) the job's own
 * error still propagates; the miss is logged.
 */
export async function recordRejected(knex: Knex, scope: JournalScope, data: unknown, err: unknown, logger: Logger): Promise<JournalEntry | null> {
  if (err instanceof DelayJob) return null;
  const message = err instanceof Error ? err.message : String(err);
  const entry = {
    ...scope,
    chargeId: chargeIdOf(data),
    outcome: 'rejected' as const,
    errorCode: rejectionCode(err),
    errorMessage: message.slice(0, MAX_MESSAGE),
    changes: {},
    totalsBefore: null,
    totalsAfter: null,
    finishedAt: new Date(),
  };
  try {
    const { runId } = await appendEntry(knex, entry);
    return { ...entry, runId };
  } catch (writeErr) {
    logger.warn({ err: writeErr, queue: scope.queue, jobId: scope.jobId, errorCode: entry.errorCode }, 'could not journal the rejected job');
    return null;
  }
}

export type JobLogWrite = (job: Job, line: string) => Promise<unknown>;

/** Copies the entry to the job's log (Bull Board shows it); the journal row is the record. */
export async function logToJob(job: Job, entry: JournalEntry | null, logger: Logger, write: JobLogWrite = (j, line) => j.log(line)): Promise<void> {
  if (!entry) return;
  try {
    await write(job, summarize(entry));
  } catch (err) {
    jobLogFailed(logger, job, err);
  }
}

/** The journal (in PostgreSQL) holds the entry either way: a missing job-log copy is only a warning. */
export function jobLogFailed(logger: Logger, job: Job, err: unknown): void {
  logger.warn({ err, queue: job.queueName, jobId: job.id }, 'could not copy the journal entry to the job log');
}
