import type { Knex } from 'knex';
import { claimKeys, keyId, loadStoredKeys, storeResults } from '../db/batch-idempotency';
import { KeyRef, payloadHash } from '../db/idempotency';
import { isTransientFault } from '../db/pg-errors';
import { applyAllocations, BatchFallback, FreshJob } from './batch-allocate';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { applyWithSavepoints, faultsAfterCommit, faultsBeforeCommit } from './batch-savepoint';
import { JobDefinition, JobResult } from './job-context';
import { keyRefOf } from './run-job';

type SetBasedApply = (trx: Knex.Transaction, jobs: FreshJob[]) => Promise<JobResult[]>;

/** Job kinds with a set-based path; every other kind is applied one savepoint per job. */
const SET_BASED: Record<string, SetBasedApply> = {
  'allocate-credit': applyAllocations,
};

interface Keyed {
  item: BatchItem;
  ref: KeyRef;
  hash: string;
}

interface Answer {
  hash: string;
  result: JobResult;
  fresh: boolean;
}

/** Replays and in-batch twins get the first delivery's result, as the per-job path would give them. */
function answerFor(k: Keyed, owner: Keyed, answers: Map<string, Answer>): ItemOutcome {
  const answer = answers.get(keyId(k.ref));
  if (!answer) throw new BatchFallback(`key ${k.ref.key} is neither claimed nor stored`);
  if (answer.hash !== k.hash) throw new BatchFallback(`key ${k.ref.key} was used with another payload`);
  return { ok: true, result: owner === k && answer.fresh ? answer.result : { ...answer.result, replayed: true } };
}

/**
 * The whole batch in one transaction: one statement claims every key, the kind's set-based apply
 * writes every effect, one statement stores every result. Anything off the success path throws.
 */
async function applySetBased(def: JobDefinition, apply: SetBasedApply, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  return env.knex.transaction(async (trx) => {
    const keyed: Keyed[] = items.map((item) => ({ item, ref: keyRefOf(def.name, item.data, item.jobId), hash: payloadHash(item.data) }));
    const owners = new Map<string, Keyed>();
    for (const k of keyed) if (!owners.has(keyId(k.ref))) owners.set(keyId(k.ref), k);
    const claimed = await claimKeys(trx, [...owners.values()].map((k) => ({ ...k.ref, hash: k.hash, jobId: k.item.jobId })));
    const fresh = [...owners.values()].filter((k) => claimed.has(keyId(k.ref)));
    const stored = await loadStoredKeys(trx, [...owners.values()].filter((k) => !claimed.has(keyId(k.ref))).map((k) => k.ref));
    const results = await apply(trx, fresh.map((k) => ({ ref: k.ref, data: k.item.data })));
    const answers = new Map<string, Answer>();
    for (const [id, s] of stored) answers.set(id, { hash: s.payloadHash, result: s.result, fresh: false });
    fresh.forEach((k, i) => answers.set(keyId(k.ref), { hash: k.hash, result: results[i], fresh: true }));
    const outcomes = keyed.map((k) => answerFor(k, owners.get(keyId(k.ref))!, answers));
    await storeResults(trx, fresh.map((k, i) => ({ ref: k.ref, result: results[i] })));
    await faultsBeforeCommit(def.name, items, outcomes);
    return outcomes;
  });
}

/**
 * Applies a batch of one queue's jobs. The set-based path runs first where the kind has one; a
 * transient fault there (a failed COMMIT included) fails every job of the batch so BullMQ retries
 * them all, and any other failure redoes the batch one savepoint per job so a bad job fails alone.
 */
export async function applyBatch(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const setBased = SET_BASED[def.name];
  if (setBased) {
    try {
      const outcomes = await applySetBased(def, setBased, items, env);
      await faultsAfterCommit(def.name, items, outcomes);
      return outcomes;
    } catch (error) {
      if (!(error instanceof BatchFallback) && isTransientFault(error)) return items.map(() => ({ ok: false, error }));
      env.logger.debug({ queue: def.name, size: items.length, err: error }, 'batch redone one savepoint per job');
    }
  }
  return applyWithSavepoints(def, items, env);
}
