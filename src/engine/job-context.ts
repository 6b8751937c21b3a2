import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type * as yup from 'yup';
import type { JournalEntry } from '../domain/journal';
import type { SqlPart } from '../db/batch-sql';
import { fastUlid } from '../domain/ids';
import type { JobKind, JobResult } from '../domain/decision';

/** What a job that runs its own transactions gets: the pool, a clock and ids. No globals. */
export interface JobContext {
  trx: Knex.Transaction;
  logger: Logger;
  queue: string;
  jobId: string | null;
  idempotencyKey: string;
  now: Date;
  newId: () => string;
  /** True when this delivery comes back from a delay the job asked for (activate-charge). */
  resumedAfterDelay: boolean;
  job: Job | null;
  /** The pool, set only for jobs that run their own transactions (their trx must not be used). */
  knex?: Knex;
}


/** Who delivered the job and how: what a handler's context says about its delivery. */
export interface DeliveryFacts {
  logger: Logger;
  jobId: string | null;
  job: Job | null;
  resumedAfterDelay?: boolean;
}

/**
 * The one place the context of a job that runs its own transactions is built: the pool (`knex`),
 * and a `trx` that refuses every use.
 */
export function handlerContext(queue: string, idempotencyKey: string, d: DeliveryFacts, db: Pick<JobContext, 'trx' | 'knex'>): JobContext {
  return {
    ...db,
    logger: d.logger,
    queue,
    jobId: d.jobId,
    idempotencyKey,
    // Row timestamps keep milliseconds: realizations are ordered by created_at across batches.
    now: new Date(),
    newId: () => fastUlid(),
    resumedAfterDelay: d.resumedAfterDelay ?? false,
    job: d.job,
  };
}

/**
 * One file per job kind exports one of these: its name and schema, and either what it reads and its
 * decide (run by the engine, batch-apply.ts) or, for a job too large for one transaction (the legacy
 * migration), a handler that runs its own transactions.
 */
export interface JobDefinition<S extends yup.AnyObjectSchema = yup.AnyObjectSchema> {
  name: string;
  schema: S;
  reads?(payloads: Array<yup.InferType<S>>): SqlPart[];
  decide?: JobKind<yup.InferType<S>>['decide'];
  handle?(payload: yup.InferType<S>, ctx: JobContext): Promise<JobResult>;
  runsOwnTransactions?: boolean;
}

/** Who delivers a job to the engine, and who hears of its journal entry. */
export interface RunEnv {
  knex: Knex;
  logger: Logger;
  job: Job | null;
  jobId: string | null;
  resumedAfterDelay?: boolean;
  /** Receives the journal entry of this delivery once it is written (the worker copies it to job.log). */
  onJournal?: (entry: JournalEntry | null) => void;
}
