import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { claimKey, KeyRef, payloadHash, storeResult } from '../db/idempotency';
import { validate } from '../validation';
import { faultPoint } from './faults';
import { runOwnTransactionsJob } from './run-own-transactions';
import type { JournalEntry } from '../domain/journal';
import { JobContext, JobDefinition, JobResult } from './job-context';
import { attemptOf, beginEffect, JournalScope, recordApplied, recordRejected, recordReplayed } from './journal-recorder';

export interface RunEnv {
  knex: Knex;
  logger: Logger;
  job: Job | null;
  jobId: string | null;
  resumedAfterDelay?: boolean;
  /** Receives the journal entry of this delivery once it is written (the worker copies it to job.log). */
  onJournal?: (entry: JournalEntry | null) => void;
}

/** The key a delivery is known by: the payload's idempotencyKey, else the BullMQ job id (SPEC §3). */
export function keyRefOf(queue: string, data: unknown, jobId: string | null): KeyRef {
  const d = (data ?? {}) as Record<string, unknown>;
  const key = typeof d.idempotencyKey === 'string' && d.idempotencyKey.length > 0 ? d.idempotencyKey : jobId ?? '';
  const namespace = typeof d.namespace === 'string' ? d.namespace : '';
  return { queue, namespace, key };
}

function handlerContext(def: JobDefinition, trx: Knex.Transaction, ref: KeyRef, env: RunEnv): JobContext {
  return {
    trx,
    logger: env.logger,
    queue: def.name,
    jobId: env.jobId,
    idempotencyKey: ref.key,
    // Row timestamps keep milliseconds: realizations are ordered by created_at across batches.
    now: new Date(),
    newId: () => ulid(),
    resumedAfterDelay: env.resumedAfterDelay ?? false,
    job: env.job,
  };
}

function journalScope(ref: KeyRef, hash: string, env: RunEnv): JournalScope {
  const { queue, namespace, key } = ref;
  return { queue, namespace, idempotencyKey: key, payloadHash: hash, jobId: env.jobId, attempt: attemptOf(env.job), startedAt: new Date() };
}

/**
 * Applies one job exactly once: the key is claimed, the payload validated and the effect written
 * in one transaction, so a crash anywhere leaves either everything or nothing. Order of checks as
 * SPEC §3: a replay answers before validation; validation before any read of the charge.
 * Every outcome is journaled: applied/replayed in the transaction, rejected after the rollback.
 */
export async function runJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  if (def.runsOwnTransactions) return runOwnTransactionsJob(def, data, env);
  const ref = keyRefOf(def.name, data, env.jobId);
  const hash = payloadHash(data);
  const scope = journalScope(ref, hash, env);
  let outcome: { result: JobResult; entry: JournalEntry };
  try {
    // No valid payload has a key or namespace over 255 chars or with a NUL, so none was ever stored:
    // such a key is refused by validation before it reaches the key index (overflow, bad UTF-8).
    if ([ref.key, ref.namespace].some((v) => v.length > 255 || v.includes('\u0000'))) validate(def.schema, data);
    outcome = await env.knex.transaction(async (trx) => {
      const claim = await claimKey(trx, ref, hash, env.jobId);
      if (claim.replayed) return { result: { ...claim.result, replayed: true }, entry: await recordReplayed(trx, scope, data, claim.result) };
      const payload = validate(def.schema, data);
      const baseline = await beginEffect(trx, ref.namespace, payload);
      const result = await def.handle(payload, handlerContext(def, trx, ref, env));
      await storeResult(trx, ref, result);
      // The applied entry commits with the effect: a crash before COMMIT leaves neither.
      const entry = await recordApplied(trx, scope, baseline, payload, result);
      await faultPoint('before_commit', def.name, env.jobId);
      return { result, entry };
    });
  } catch (err) {
    // Written whether or not anyone listens: `env.onJournal?.(await …)` would skip the write.
    const rejected = await recordRejected(env.knex, scope, data, err, env.logger);
    env.onJournal?.(rejected);
    throw err;
  }
  env.onJournal?.(outcome.entry);
  if (!outcome.result.replayed) await faultPoint('after_commit', def.name, env.jobId);
  return outcome.result;
}
