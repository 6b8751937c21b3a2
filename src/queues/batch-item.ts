import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { JournalEntry } from '../domain/journal';
import { batchSettingsFrom } from '../config';
import { JobResult } from './job-context';

/** One delivery waiting to be applied as part of a batch. */
export interface BatchItem {
  data: unknown;
  jobId: string | null;
  job: Job | null;
  resumedAfterDelay: boolean;
  /** When the delivery reached the worker: the journal entry's startedAt. */
  startedAt: Date;
  /** Receives the delivery's journal entry once it is written, as runJob's caller does. */
  onJournal?: (entry: JournalEntry | null) => void;
}

/** Each job of a batch ends on its own: its result, or the error it fails (or is retried) with. */
export type ItemOutcome = { ok: true; result: JobResult } | { ok: false; error: unknown };

export interface BatchEnv {
  knex: Knex;
  logger: Logger;
}

export interface BatchSettings {
  /** Jobs per transaction at most; 0 or 1 (the default) keeps one transaction per job (runJob). */
  size: number;
  /** Batches of one queue in flight at once, each for its own share of the charges. Default 2. */
  partitions: number;
}

/**
 * Batching is opt-in (BATCH_SIZE=50 is the measured setting): it raises each queue's jobs in
 * flight beyond WORKER_CONCURRENCY and sends a whole batch back to backoff on one fault (README
 * "Throughput").
 */
export function batchSettingsFromEnv(env?: NodeJS.ProcessEnv): BatchSettings {
  return batchSettingsFrom(env);
}

/** BATCH_SIZE alone: what the worker checks to choose the batched path. */
export function batchSizeFromEnv(env?: NodeJS.ProcessEnv): number {
  return batchSettingsFromEnv(env).size;
}
