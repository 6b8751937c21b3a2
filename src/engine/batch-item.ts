import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { JournalEntry } from '../domain/journal';
import { JobResult } from '../domain/decision';

/** One delivery waiting to be applied as part of a batch. */
export interface BatchItem {
  data: unknown;
  jobId: string | null;
  job: Job | null;
  resumedAfterDelay: boolean;
  /** When the delivery reached the worker: the journal entry's startedAt. */
  startedAt: Date;
  /** Receives the delivery's journal entry once it is written (the worker copies it to the job's log). */
  onJournal?: (entry: JournalEntry | null) => void;
}

/** Each job of a batch ends on its own: its result, or the error it fails (or is retried) with. */
export type ItemOutcome = { ok: true; result: JobResult } | { ok: false; error: unknown };

export interface BatchEnv {
  knex: Knex;
  logger: Logger;
}
