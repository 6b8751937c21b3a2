import type { Knex } from 'knex';
import { keyRefOf, payloadHash } from '../db/idempotency';
import { isTransientFault } from '../db/pg-errors';
import { chargeIdOf, JournalEntry } from '../domain/journal';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { faultPoint } from './faults';
import { JobDefinition } from './job-context';
import { recordRejected } from './journal-recorder';
import { Applied, applyInTransaction, journalScope } from './run-job';

/** The charge a job serializes on (create-charge names it `id`); '' when it names none. */
export function chargeKeyOf(data: unknown): string {
  return chargeIdOf(data) ?? '';
}

/**
 * One job inside the batch's transaction, exactly as runJob applies it; its fault points are the
 * batch's own, so they mark the batch's real COMMIT, not a savepoint release.
 */
function applyOne(trx: Knex.Transaction, def: JobDefinition, item: BatchItem, env: BatchEnv): Promise<Applied> {
  return applyInTransaction(trx, def, item.data, {
    jobId: item.jobId,
    job: item.job,
    logger: env.logger,
    resumedAfterDelay: item.resumedAfterDelay,
    startedAt: item.startedAt,
  });
}

/**
 * Stable order by charge: each batch takes its charge locks in ascending order (no deadlock between
 * batches), and jobs of one charge keep their arrival order.
 */
export function lockOrder(items: BatchItem[]): number[] {
  return items.map((_, i) => i).sort((a, b) => {
    const ca = chargeKeyOf(items[a].data);
    const cb = chargeKeyOf(items[b].data);
    return ca < cb ? -1 : ca > cb ? 1 : a - b;
  });
}

/**
 * Every job in its own SAVEPOINT of one transaction: a bad job rolls back alone and fails with its
 * own error, the others commit together. If the transaction itself fails (COMMIT included), no job
 * of the batch took effect and each one that had not failed on its own fails with that fault
 * (retried). A transient fault inside a savepoint (the session was terminated) ends the transaction
 * at once: the jobs after it would only meet a dead connection.
 */
export async function applyWithSavepoints(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  const settled: Array<ItemOutcome | null> = items.map(() => null);
  const entries: Array<JournalEntry | null> = items.map(() => null);
  try {
    await env.knex.transaction(async (trx) => {
      for (const i of lockOrder(items)) {
        try {
          const applied = items.length === 1 ? await applyOne(trx, def, items[i], env) : await trx.transaction((sp) => applyOne(sp, def, items[i], env));
          settled[i] = { ok: true, result: applied.result };
          entries[i] = applied.entry;
        } catch (error) {
          // A batch of one has no savepoint: its failure must roll the transaction back, as runJob's does.
          if (items.length === 1 || isTransientFault(error)) throw error;
          settled[i] = { ok: false, error };
        }
      }
      await faultsBeforeCommit(def.name, items, settled as ItemOutcome[]);
    });
  } catch (error) {
    settled.forEach((o, i) => (settled[i] = o === null || o.ok || items.length === 1 ? { ok: false, error } : o));
  }
  const outcomes = settled as ItemOutcome[];
  await finishOutcomes(def, items, outcomes, entries, env);
  return outcomes;
}

/**
 * After the batch's COMMIT (or rollback): hands each job its journal entry and journals every
 * failure in its own small transaction, since the batch that would have held it rolled back.
 */
export async function finishOutcomes(def: JobDefinition, items: BatchItem[], outcomes: ItemOutcome[], entries: Array<JournalEntry | null>, env: BatchEnv): Promise<void> {
  await Promise.all(
    items.map(async (item, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) return item.onJournal?.(entries[i]);
      const scope = journalScope(keyRefOf(def.name, item.data, item.jobId, item.job?.timestamp), payloadHash(item.data), item);
      // Written first: `onJournal?.(await …)` would skip the write when nobody listens.
      const entry = await recordRejected(env.knex, scope, item.data, outcome.error, env.logger);
      item.onJournal?.(entry);
    }),
  );
  await faultsAfterCommit(def.name, items, outcomes);
}

export async function faultsBeforeCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  for (let i = 0; i < items.length; i++) if (outcomes[i].ok) await faultPoint('before_commit', queue, items[i].jobId);
}

async function faultsAfterCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    const outcome = outcomes[i];
    if (outcome.ok && !outcome.result.replayed) await faultPoint('after_commit', queue, items[i].jobId);
  }
}
