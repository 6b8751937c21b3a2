import { keyId, keysInsert, loadStoredKeys, storedOf } from '../db/batch-idempotency';
import { journalInsert } from '../db/batch-journal';
import { writeTogether } from '../db/batch-sql';
import { inBatchTransaction } from '../db/batch-transaction';
import { KeyRef, payloadHash } from '../db/idempotency';
import { isTransientFault, isUniqueViolation, mapPgError } from '../db/pg-errors';
import { ConflictError, isDomainError } from '../domain/errors';
import { chargeIdOf, JournalEntry } from '../domain/journal';
import { observeBatch } from '../observability/metrics';
import { unstorableText, validate } from '../validation';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { faultsBeforeCommit, finishOutcomes, journalScope, keyRefOfItem, lockOrder } from './batch-finish';
import type { JournalScope } from './journal-recorder';
import { JobDefinition } from './job-context';
import { Decided, FreshApplied, JobKind, JobResult } from '../domain/decision';

/** A transient fault (a terminated session, a failed COMMIT) is retried this often by the engine before the jobs go back to BullMQ. */
const FAULT_ATTEMPTS = 3;

interface Keyed {
  item: BatchItem;
  ref: KeyRef;
  /** keyId(ref), the key's name in every map of the batch. */
  id: string;
  hash: string;
}

/** What a key's owner came to: its result (applied now or stored before), or the error it failed with. */
type Answer = { hash: string; result: JobResult; applied: FreshApplied | null } | { error: unknown };

/** `later`: a twin of a job that failed; it owns the key it gave back and is applied after this batch. */
type Answered = { ok: true; result: JobResult; applied: FreshApplied | null } | { ok: false; error: unknown } | { ok: false; later: true };

/** Each delivery's answer: its owner's, a replay's stored result, or a conflict when the payload differs. */
function answerFor(k: Keyed, owner: Keyed, answers: Map<string, Answer>): Answered {
  const answer = answers.get(k.id);
  if (!answer) throw new Error(`key ${k.ref.key} is neither decided nor stored`);
  if ('error' in answer) return owner === k ? { ok: false, error: answer.error } : { ok: false, later: true };
  if (answer.hash !== k.hash) {
    return { ok: false, error: new ConflictError('idempotency_key_conflict', `idempotency key "${k.ref.key}" was already used with a different payload [queue=${k.ref.queue}]`) };
  }
  if (owner === k && answer.applied) return { ok: true, result: answer.result, applied: answer.applied };
  return { ok: true, result: Object.assign({}, answer.result, { replayed: true }), applied: null };
}

/**
 * The entries of the deliveries that succeeded, in order: applied with its changes and totals, or
 * replayed. A replay names its charge's current run as of its turn: the run an earlier job of this
 * batch left, otherwise the run the charge had before the batch (null here: the journal insert looks it up).
 */
function entriesFor(keyed: Keyed[], answered: Answered[]): Array<JournalEntry | null> {
  const runNow = new Map<string | null, string | null>();
  return keyed.map((k, i) => {
    const answer = answered[i];
    if (!answer.ok) return null;
    const { result, applied } = answer;
    const chargeId = chargeIdOf(k.item.data, result);
    // The scope plus one typed literal, not spreads: see runChildFromDb (db/mapping.ts).
    const rest: Omit<JournalEntry, keyof JournalScope> = {
      chargeId,
      runId: applied ? applied.runId : runNow.get(chargeId) ?? null,
      outcome: applied ? 'applied' : 'replayed',
      errorCode: null,
      errorMessage: null,
      changes: applied ? applied.changes : {},
      totalsBefore: applied ? applied.totalsBefore : null,
      totalsAfter: applied ? applied.totalsAfter : null,
      finishedAt: new Date(),
    };
    if (applied?.runChange) rest.runChange = applied.runChange;
    if (applied) runNow.set(chargeId, applied.runId);
    return Object.assign(journalScope(k.ref, k.hash, k.item), rest);
  });
}

/** The payload validated, or the validation error its job alone fails with. */
function parse(def: JobDefinition, data: unknown): { ok: true; payload: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, payload: validate(def.schema, data) };
  } catch (error) {
    if (isDomainError(error)) return { ok: false, error };
    throw error;
  }
}

/**
 * The whole batch in one transaction of two round trips (batch-transaction.ts): BEGIN, the kind's
 * reads (which lock the charges) and then the stored answers of the batch's keys; then, decided in
 * memory in arrival order, ONE statement writing every effect, the key and result of every applied
 * job and every journal entry, and COMMIT. A job that fails on its own leaves no key. SPEC §3's
 * order holds per job: a replay answers before validation, validation before any rule.
 */
async function applyTogether(def: JobDefinition, kind: JobKind<unknown>, items: BatchItem[], env: BatchEnv) {
  const keyed: Keyed[] = items.map((item) => {
    const ref = keyRefOfItem(def.name, item);
    return { item, ref, id: keyId(ref), hash: payloadHash(item.data) };
  });
  const owners = new Map<string, Keyed>();
  for (const k of keyed) if (!owners.has(k.id)) owners.set(k.id, k);
  const unique = [...owners.values()];
  const parsed = unique.map((k) => parse(def, k.item.data));
  const valid = unique.filter((_, i) => parsed[i].ok);
  const payloads = parsed.flatMap((p) => (p.ok ? [p.payload] : []));
  return inBatchTransaction(env.knex, async (trx) => {
    const rows = await trx.read([...kind.reads(payloads), loadStoredKeys(unique.map((k) => k.ref))]);
    const readRows = rows.slice(0, -1);
    const stored = storedOf(rows[rows.length - 1]);
    const isFresh = valid.map((k) => !stored.has(k.id));
    const fresh = valid.filter((_, i) => isFresh[i]);
    const { decided, writes } = kind.decide(readRows, payloads.filter((_, i) => isFresh[i]), {
      keys: fresh.map((k) => k.ref.key),
      resumed: fresh.map((k) => k.item.resumedAfterDelay),
    });
    const answers = new Map<string, Answer>();
    for (const [id, s] of stored) answers.set(id, { hash: s.payloadHash, result: s.result, applied: null });
    unique.forEach((k, i) => {
      const p = parsed[i];
      if (!p.ok && !answers.has(k.id)) answers.set(k.id, { error: p.error });
    });
    fresh.forEach((k, i) => answers.set(k.id, answerOf(k, decided[i])));
    const answered = keyed.map((k) => answerFor(k, owners.get(k.id)!, answers));
    const entries = entriesFor(keyed, answered);
    const later = answered.map((a) => !a.ok && 'later' in a);
    const outcomes = answered.map((a): ItemOutcome => (a.ok ? { ok: true, result: a.result } : { ok: false, error: 'error' in a ? a.error : null }));
    const applied = fresh.flatMap((k, i) => {
      const d = decided[i];
      return d.ok ? [{ queue: k.ref.queue, namespace: k.ref.namespace, key: k.ref.key, hash: k.hash, jobId: k.item.jobId, result: d.applied.result }] : [];
    });
    await faultsBeforeCommit(def.name, items, outcomes);
    await trx.commit(writeTogether([...writes, keysInsert(applied), journalInsert(entries.filter((e): e is JournalEntry => e !== null))]));
    // A batch that applied or replayed nothing committed no effect: counted as none.
    if (outcomes.some((o) => o.ok)) observeBatch(def.name, items.length);
    return { outcomes, entries, later };
  });
}

function answerOf(k: Keyed, d: Decided): Answer {
  return d.ok ? { hash: k.hash, result: d.applied.result, applied: d.applied } : { error: d.error };
}

/**
 * No valid payload has a key or namespace over 255 characters or with a NUL, so none was ever
 * stored, and such a key must not reach the key index (overflow, bad UTF-8): validation refuses the
 * job before any statement, and the rest of the batch goes on without it.
 */
function refusedBeforeClaim(def: JobDefinition, item: BatchItem): unknown {
  const ref = keyRefOfItem(def.name, item);
  if (![ref.key, ref.namespace].some((v) => v.length > 255 || unstorableText(v))) return null;
  const p = parse(def, item.data);
  return p.ok ? null : p.error;
}

/**
 * Applies a batch of one queue's jobs (a single job is a batch of one); each ends with its own
 * outcome, in the batch's order. Jobs whose key cannot be stored fail first, on their own.
 */
export async function applyBatch(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const refused = items.map((item) => refusedBeforeClaim(def, item));
  if (refused.every((r) => r === null)) return applyStorable(def, items, env);
  const outcomes: ItemOutcome[] = refused.map((error) => ({ ok: false, error }));
  const rest = items.filter((_, i) => refused[i] === null);
  const restOutcomes = rest.length > 0 ? await applyStorable(def, rest, env) : [];
  let next = 0;
  refused.forEach((r, i) => r === null && (outcomes[i] = restOutcomes[next++]));
  await finishOutcomes(def.name, items.filter((_, i) => refused[i] !== null), outcomes.filter((_, i) => refused[i] !== null), [], env);
  return outcomes;
}

function kindOf(def: JobDefinition): JobKind<unknown> {
  if (!def.reads || !def.decide) throw new Error(`job kind ${def.name} has no reads/decide`);
  return def as unknown as JobKind<unknown>;
}

/**
 * The batch together first. A transient fault (a terminated session, a failed COMMIT) redoes it on
 * a fresh connection, up to FAULT_ATTEMPTS times, before failing every job with it (BullMQ then
 * retries them); nothing of the batch is stored either way. A unique violation redoes it once: a
 * duplicate delivery that another batch applied meanwhile then reads its key as stored and replays.
 * Anything else the database refuses, or a unique violation that persists (a charge id taken
 * twice), redoes the jobs one at a time, so only the job that meets it fails, with its domain error.
 */
async function applyStorable(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const kind = kindOf(def);
  let together: Awaited<ReturnType<typeof applyTogether>>;
  for (let attempt = 1; ; attempt++) {
    try {
      together = await applyTogether(def, kind, items, env);
      break;
    } catch (error) {
      if (isTransientFault(error) && attempt < FAULT_ATTEMPTS) {
        env.logger.warn({ queue: def.name, size: items.length, attempt, err: error }, 'batch met a database fault; redoing it on a fresh connection');
        continue;
      }
      if (isUniqueViolation(error) && attempt === 1) {
        env.logger.debug({ queue: def.name, size: items.length, err: error }, 'batch met a row written meanwhile; redoing it');
        continue;
      }
      if (!isTransientFault(error) && items.length > 1) {
        env.logger.debug({ queue: def.name, size: items.length, err: error }, 'batch redone one job at a time');
        return applyOneByOne(def, items, env);
      }
      const outcomes = items.map((): ItemOutcome => ({ ok: false, error: mapPgError(error) }));
      await finishOutcomes(def.name, items, outcomes, [], env);
      return outcomes;
    }
  }
  // Committed: what follows hands out results and journals the failed jobs; it never redoes the batch.
  const { outcomes, entries, later } = together;
  const done = items.filter((_, i) => !later[i]);
  await finishOutcomes(def.name, done, outcomes.filter((_, i) => !later[i]), entries.filter((_, i) => !later[i]), env);
  if (done.length === items.length) return outcomes;
  // A twin of a job that failed is its own delivery, as it would be one job at a time: applied next, in order.
  const rest = await applyStorable(def, items.filter((_, i) => later[i]), env);
  let next = 0;
  return outcomes.map((o, i) => (later[i] ? rest[next++] : o));
}

async function applyOneByOne(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const outcomes: ItemOutcome[] = new Array(items.length);
  for (const i of lockOrder(items)) [outcomes[i]] = await applyStorable(def, [items[i]], env);
  return outcomes;
}
