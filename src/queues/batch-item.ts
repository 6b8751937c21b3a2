import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { JobResult } from './job-context';

/** One delivery waiting to be applied as part of a batch. */
export interface BatchItem {
  data: unknown;
  jobId: string | null;
  job: Job | null;
  resumedAfterDelay: boolean;
}

/** Each job of a batch ends on its own: its result, or the error it fails (or is retried) with. */
export type ItemOutcome = { ok: true; result: JobResult } | { ok: false; error: unknown };

export interface BatchEnv {
  knex: Knex;
  logger: Logger;
}

/** Read once: BATCH_SIZE > 1 turns batching on; 0 or 1 keeps one transaction per job. */
export function batchSizeFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BATCH_SIZE;
  if (raw === undefined || raw === '') return 0;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 1000) throw new Error(`BATCH_SIZE must be an integer 0..1000, got "${raw}"`);
  return value;
}
