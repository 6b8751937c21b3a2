import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { claimKey, KeyRef, keyRefOf, payloadHash, storeResult } from '../db/idempotency';
import { unstorableText, validate } from '../validation';
import { faultPoint } from './faults';
import { runOwnTransactionsJob } from './run-own-transactions';
import type { JournalEntry } from '../domain/journal';
import { DeliveryFacts, handlerContext, JobDefinition, JobResult } from './job-context';
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

export interface Delivery extends DeliveryFacts {
  startedAt?: Date;
}

export interface Applied {
  result: JobResult;
  entry: JournalEntry;
}

export function journalScope(ref: KeyRef, hash: string, d: Pick<Delivery, 'jobId' | 'job' | 'startedAt'>): JournalScope {
  const { queue, namespace, key } = ref;
  return { queue, namespace, idempotencyKey: key, payloadHash: hash, jobId: d.jobId, attempt: attemptOf(d.job), startedAt: d.startedAt ?? new Date() };
}

/**
 * No valid payload has a key or namespace over 255 chars or with a NUL, so none was ever stored:
 * such a key is refused by validation before it reaches the key index (overflow, bad UTF-8).
 */
export function refuseUnstorableKey(def: JobDefinition, ref: KeyRef, data: unknown): void {
  if ([ref.key, ref.namespace].some((v) => v.length > 255 || unstorableText(v))) validate(def.schema, data);
}

/**
 * One delivery inside a transaction it does not own (runJob's, or a batch's savepoint), in SPEC §3's
 * order: key claim (a replay answers at once), validation, the kind's handler, result and journal.
 */
export async function applyInTransaction(trx: Knex.Transaction, def: JobDefinition, data: unknown, d: Delivery): Promise<Applied> {
  const ref = keyRefOf(def.name, data, d.jobId, d.job?.timestamp);
  const hash = payloadHash(data);
  const scope = journalScope(ref, hash, d);
  const claim = await claimKey(trx, ref, hash, d.jobId);
  if (claim.replayed) return { result: { ...claim.result, replayed: true }, entry: await recordReplayed(trx, scope, data, claim.result) };
  const payload = validate(def.schema, data);
  const baseline = await beginEffect(trx, ref.namespace, payload);
  const result = await def.handle(payload, handlerContext(def.name, ref.key, d, { trx }));
  await storeResult(trx, ref, result);
  // The applied entry commits with the effect: a crash before COMMIT leaves neither.
  return { result, entry: await recordApplied(trx, scope, baseline, payload, result) };
}

/**
 * Applies one job exactly once: the key is claimed, the payload validated and the effect written
 * in one transaction, so a crash anywhere leaves either everything or nothing. Order of checks as
 * SPEC §3: a replay answers before validation; validation before any read of the charge.
 * Every outcome is journaled: applied/replayed in the transaction, rejected after the rollback.
 */
export async function runJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  if (def.runsOwnTransactions) return runOwnTransactionsJob(def, data, env);
  const ref = keyRefOf(def.name, data, env.jobId, env.job?.timestamp);
  const delivery: Delivery = { ...env, startedAt: new Date() };
  let outcome: Applied;
  try {
    refuseUnstorableKey(def, ref, data);
    outcome = await env.knex.transaction(async (trx) => {
      const applied = await applyInTransaction(trx, def, data, delivery);
      if (!applied.result.replayed) await faultPoint('before_commit', def.name, env.jobId);
      return applied;
    });
  } catch (err) {
    // Written whether or not anyone listens: `env.onJournal?.(await …)` would skip the write.
    const rejected = await recordRejected(env.knex, journalScope(ref, payloadHash(data), delivery), data, err, env.logger);
    env.onJournal?.(rejected);
    throw err;
  }
  env.onJournal?.(outcome.entry);
  if (!outcome.result.replayed) await faultPoint('after_commit', def.name, env.jobId);
  return outcome.result;
}
