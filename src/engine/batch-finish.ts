import { keyRefOf, KeyRef, payloadHash } from '../db/idempotency';
import { chargeIdOf, JournalEntry } from '../domain/journal';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { faultPoint, faultsArmed } from './faults';
import { attemptOf, JournalScope, recordRejected } from './journal-recorder';

/** The charge a job serializes on (create-charge names it `id`); '' when it names none. */
export function chargeKeyOf(data: unknown): string {
  return chargeIdOf(data) ?? '';
}

/**
 * Stable order by charge: jobs applied one at a time take their charge locks in ascending order,
 * and jobs of one charge keep their arrival order.
 */
export function lockOrder(items: BatchItem[]): number[] {
  return items.map((_, i) => i).sort((a, b) => {
    const ca = chargeKeyOf(items[a].data);
    const cb = chargeKeyOf(items[b].data);
    return ca < cb ? -1 : ca > cb ? 1 : a - b;
  });
}

/** The key a delivery is known by (SPEC §3): its idempotencyKey, its custom job id, or BullMQ's id with the job's creation time. */
export function keyRefOfItem(queue: string, item: BatchItem): KeyRef {
  return keyRefOf(queue, item.data, item.jobId, item.job?.timestamp);
}

/** What every journal entry of one delivery shares. */
export function journalScope(ref: KeyRef, hash: string, d: Pick<BatchItem, 'jobId' | 'job' | 'startedAt'>): JournalScope {
  const { queue, namespace, key } = ref;
  return { queue, namespace, idempotencyKey: key, payloadHash: hash, jobId: d.jobId, attempt: attemptOf(d.job), startedAt: d.startedAt };
}

/**
 * After the batch's COMMIT (or rollback): hands each job its journal entry and journals every
 * failure in its own small transaction, since nothing of a failed job is in the batch's.
 */
export async function finishOutcomes(queue: string, items: BatchItem[], outcomes: ItemOutcome[], entries: Array<JournalEntry | null>, env: BatchEnv): Promise<void> {
  const rejected: Array<Promise<void>> = [];
  items.forEach((item, i) => {
    const outcome = outcomes[i];
    if (outcome.ok) item.onJournal?.(entries[i] ?? null);
    else rejected.push(journalRejected(queue, item, outcome.error, env));
  });
  await Promise.all(rejected);
  await faultsAfterCommit(queue, items, outcomes);
}

async function journalRejected(queue: string, item: BatchItem, error: unknown, env: BatchEnv): Promise<void> {
  const scope = journalScope(keyRefOfItem(queue, item), payloadHash(item.data), item);
  // Written first: `onJournal?.(await …)` would skip the write when nobody listens.
  const entry = await recordRejected(env.knex, scope, item.data, error, env.logger);
  item.onJournal?.(entry);
}

export async function faultsBeforeCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  if (!faultsArmed) return;
  for (let i = 0; i < items.length; i++) if (outcomes[i].ok) await faultPoint('before_commit', queue, items[i].jobId);
}

async function faultsAfterCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  if (!faultsArmed) return;
  for (let i = 0; i < items.length; i++) {
    const outcome = outcomes[i];
    if (outcome.ok && !outcome.result.replayed) await faultPoint('after_commit', queue, items[i].jobId);
  }
}
