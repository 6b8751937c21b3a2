import { claimedOf, claimKeys, keyId, loadStoredKeys, resultsUpdate, storedOf } from '../db/batch-idempotency';
import { journalInsert } from '../db/batch-journal';
import { writeTogether } from '../db/batch-sql';
import { inBatchTransaction } from '../db/batch-transaction';
import { KeyRef, keyRefOf, payloadHash } from '../db/idempotency';
import { isTransientFault } from '../db/pg-errors';
import { chargeIdOf, JournalEntry } from '../domain/journal';
import { allocateInBatch } from './batch-allocate';
import { paymentInBatch } from './batch-payment';
import { activateInBatch, createInBatch } from './batch-provision';
import { deleteInBatch } from './batch-delete';
import { usageInBatch } from './batch-usage';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { applyWithSavepoints, faultsBeforeCommit, finishOutcomes } from './batch-savepoint';
import { JobDefinition, JobResult } from './job-context';
import { BatchFallback, FreshApplied, SetBasedKind } from './set-based';
import { journalScope, refuseUnstorableKey } from './run-job';

/** Job kinds with a set-based path; any other kind would be applied one savepoint per job. */
const SET_BASED: Record<string, SetBasedKind<unknown>> = {
  'allocate-credit': allocateInBatch as SetBasedKind<unknown>,
  payment: paymentInBatch as SetBasedKind<unknown>,
  'create-invoiced-usage': usageInBatch as SetBasedKind<unknown>,
  'create-charge': createInBatch as SetBasedKind<unknown>,
  'activate-charge': activateInBatch as SetBasedKind<unknown>,
  'delete-charge': deleteInBatch as SetBasedKind<unknown>,
};

interface Keyed {
  item: BatchItem;
  ref: KeyRef;
  hash: string;
}

interface Answer {
  hash: string;
  result: JobResult;
  applied: FreshApplied | null;
}

/** Replays and in-batch twins get the first delivery's result, as the per-job path would give them. */
function answerFor(k: Keyed, owner: Keyed, answers: Map<string, Answer>): { result: JobResult; applied: FreshApplied | null } {
  const answer = answers.get(keyId(k.ref));
  if (!answer) throw new BatchFallback(`key ${k.ref.key} is neither claimed nor stored`);
  if (answer.hash !== k.hash) throw new BatchFallback(`key ${k.ref.key} was used with another payload`);
  if (owner === k && answer.applied) return { result: answer.result, applied: answer.applied };
  return { result: { ...answer.result, replayed: true }, applied: null };
}

/**
 * The entries runJob would write for these deliveries, in order: applied with its changes and
 * totals, or replayed. A replay names its charge's current run as of its turn: the run an earlier
 * job of this batch left (a provisioned or created run the write statement's lookup cannot see
 * yet), otherwise the run the charge had before the batch (null here: the journal insert looks it up).
 */
function entriesFor(keyed: Keyed[], answered: Array<{ result: JobResult; applied: FreshApplied | null }>): JournalEntry[] {
  const runNow = new Map<string | null, string | null>();
  return keyed.map((k, i) => {
    const { result, applied } = answered[i];
    const scope = journalScope(k.ref, k.hash, k.item);
    const chargeId = chargeIdOf(k.item.data, result);
    const common = { ...scope, chargeId, errorCode: null, errorMessage: null, finishedAt: new Date() };
    if (!applied) return { ...common, runId: runNow.get(chargeId) ?? null, outcome: 'replayed', changes: {}, totalsBefore: null, totalsAfter: null };
    const { runId, changes, totalsBefore, totalsAfter } = applied;
    runNow.set(chargeId, runId);
    return { ...common, runId, outcome: 'applied', changes, totalsBefore, totalsAfter };
  });
}

/**
 * The whole batch in one transaction of two round trips (batch-transaction.ts): BEGIN, the claim of
 * every key, the stored answers of keys seen before and the kind's reads; then, decided in memory,
 * ONE statement writing every effect, result and journal entry, and COMMIT. Anything off the
 * success path throws.
 */
async function applySetBased(def: JobDefinition, kind: SetBasedKind<unknown>, items: BatchItem[], env: BatchEnv) {
  const keyed: Keyed[] = items.map((item) => ({ item, ref: keyRefOf(def.name, item.data, item.jobId, item.job?.timestamp), hash: payloadHash(item.data) }));
  const owners = new Map<string, Keyed>();
  for (const k of keyed) if (!owners.has(keyId(k.ref))) owners.set(keyId(k.ref), k);
  const unique = [...owners.values()];
  const payloads = unique.map((k) => kind.parse(k.item.data));
  return inBatchTransaction(env.knex, async (trx) => {
    const [claimRows, storedRows, ...readRows] = await trx.read([
      claimKeys(unique.map((k) => ({ ...k.ref, hash: k.hash, jobId: k.item.jobId }))),
      loadStoredKeys(unique.map((k) => k.ref)),
      ...kind.reads(payloads),
    ]);
    const claimed = claimedOf(claimRows);
    const isFresh = unique.map((k) => claimed.has(keyId(k.ref)));
    const fresh = unique.filter((_, i) => isFresh[i]);
    const { applied, writes } = kind.decide(readRows, payloads.filter((_, i) => isFresh[i]), fresh.map((k) => k.ref.key));
    const answers = new Map<string, Answer>();
    for (const [id, s] of storedOf(storedRows)) if (!claimed.has(id)) answers.set(id, { hash: s.payloadHash, result: s.result, applied: null });
    fresh.forEach((k, i) => answers.set(keyId(k.ref), { hash: k.hash, result: applied[i].result, applied: applied[i] }));
    const answered = keyed.map((k) => answerFor(k, owners.get(keyId(k.ref))!, answers));
    const entries = entriesFor(keyed, answered);
    const outcomes = answered.map(({ result }): ItemOutcome => ({ ok: true, result }));
    await faultsBeforeCommit(def.name, items, outcomes);
    await trx.commit(writeTogether([...writes, resultsUpdate(fresh.map((k, i) => ({ ref: k.ref, result: applied[i].result }))), journalInsert(entries)]));
    return { outcomes, entries };
  });
}

/**
 * As runJob: no valid payload has a key or namespace over 255 characters or with a NUL, so none was
 * ever stored, and such a key must not reach the key index (overflow, bad UTF-8): validation
 * refuses the job before any statement, and the rest of the batch goes on without it.
 */
function refusedBeforeClaim(def: JobDefinition, item: BatchItem): unknown {
  try {
    refuseUnstorableKey(def, keyRefOf(def.name, item.data, item.jobId, item.job?.timestamp), item.data);
    return null;
  } catch (err) {
    return err;
  }
}

/**
 * Applies a batch of one queue's jobs; each ends with its own outcome, in the batch's order. Jobs
 * whose key cannot be stored fail first, on their own.
 */
export async function applyBatch(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const refused = items.map((item) => refusedBeforeClaim(def, item));
  if (refused.every((r) => r === null)) return applyStorable(def, items, env);
  const outcomes: ItemOutcome[] = refused.map((error) => ({ ok: false, error }));
  const rest = items.filter((_, i) => refused[i] === null);
  const restOutcomes = rest.length > 0 ? await applyStorable(def, rest, env) : [];
  let next = 0;
  refused.forEach((r, i) => r === null && (outcomes[i] = restOutcomes[next++]));
  await finishOutcomes(def, items.filter((_, i) => refused[i] !== null), outcomes.filter((_, i) => refused[i] !== null), [], env);
  return outcomes;
}

/**
 * The set-based path runs first where the kind has one; a transient fault there (a failed COMMIT
 * included) fails every job of the batch so BullMQ retries them all, and any other failure redoes
 * the batch one savepoint per job so a bad job fails alone.
 */
async function applyStorable(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const kind = SET_BASED[def.name];
  if (kind) {
    try {
      const { outcomes, entries } = await applySetBased(def, kind, items, env);
      await finishOutcomes(def, items, outcomes, entries, env);
      return outcomes;
    } catch (error) {
      if (!(error instanceof BatchFallback) && isTransientFault(error)) {
        const outcomes = items.map((): ItemOutcome => ({ ok: false, error }));
        await finishOutcomes(def, items, outcomes, [], env);
        return outcomes;
      }
      env.logger.debug({ queue: def.name, size: items.length, err: error }, 'batch redone one savepoint per job');
    }
  }
  return applyWithSavepoints(def, items, env);
}
