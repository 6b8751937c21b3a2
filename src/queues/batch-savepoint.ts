import type { Knex } from 'knex';
import { ulid } from 'ulid';
import { claimKey, payloadHash, storeResult } from '../db/idempotency';
import { validate } from '../validation';
import { BatchEnv, BatchItem, ItemOutcome } from './batch-item';
import { faultPoint } from './faults';
import { JobDefinition, JobResult } from './job-context';
import { keyRefOf } from './run-job';

/**
 * One job inside the batch's transaction, with runJob's order of checks: key claim (a replay
 * answers at once), validation, then the kind's own handler. Kept beside runJob rather than calling
 * it so its fault points mark the batch's real COMMIT, not a savepoint release.
 */
export async function applyOne(trx: Knex.Transaction, def: JobDefinition, item: BatchItem, env: BatchEnv): Promise<JobResult> {
  const ref = keyRefOf(def.name, item.data, item.jobId);
  const hash = payloadHash(item.data);
  const claim = await claimKey(trx, ref, hash, item.jobId);
  if (claim.replayed) return { ...claim.result, replayed: true };
  const payload = validate(def.schema, item.data);
  const result = await def.handle(payload, {
    trx,
    logger: env.logger,
    queue: def.name,
    jobId: item.jobId,
    idempotencyKey: ref.key,
    now: new Date(),
    newId: () => ulid(),
    resumedAfterDelay: item.resumedAfterDelay,
    job: item.job,
  });
  await storeResult(trx, ref, result);
  return result;
}

/** The charge a job serializes on; jobs without one sort first. */
function chargeOf(item: BatchItem): string {
  const d = (item.data ?? {}) as Record<string, unknown>;
  const id = d.chargeId ?? d.id;
  return typeof id === 'string' ? id : '';
}

/**
 * Stable order by charge: each batch takes its charge locks in ascending order (no deadlock between
 * batches), and jobs of one charge keep their arrival order.
 */
export function lockOrder(items: BatchItem[]): number[] {
  return items.map((_, i) => i).sort((a, b) => {
    const ca = chargeOf(items[a]);
    const cb = chargeOf(items[b]);
    return ca < cb ? -1 : ca > cb ? 1 : a - b;
  });
}

/**
 * Every job in its own SAVEPOINT of one transaction: a bad job rolls back alone and fails with its
 * own error, the others commit together. If the transaction itself fails (COMMIT included), no job
 * of the batch took effect and each one that would have succeeded fails with that fault (retried).
 */
export async function applyWithSavepoints(def: JobDefinition, items: BatchItem[], env: BatchEnv): Promise<ItemOutcome[]> {
  if (items.length === 1) return [await applyAlone(def, items[0], env)];
  const outcomes: ItemOutcome[] = items.map(() => ({ ok: false, error: new Error('batch not applied') }));
  try {
    await env.knex.transaction(async (trx) => {
      for (const i of lockOrder(items)) {
        try {
          const result = await trx.transaction((sp) => applyOne(sp, def, items[i], env));
          outcomes[i] = { ok: true, result };
        } catch (error) {
          outcomes[i] = { ok: false, error };
        }
      }
      await faultsBeforeCommit(def.name, items, outcomes);
    });
  } catch (error) {
    return outcomes.map((o) => (o.ok ? { ok: false, error } : o));
  }
  await faultsAfterCommit(def.name, items, outcomes);
  return outcomes;
}

/** A batch of one needs no savepoint: its own transaction, exactly as the per-job path. */
async function applyAlone(def: JobDefinition, item: BatchItem, env: BatchEnv): Promise<ItemOutcome> {
  let outcome: ItemOutcome;
  try {
    const result = await env.knex.transaction(async (trx) => {
      const applied = await applyOne(trx, def, item, env);
      await faultPoint('before_commit', def.name, item.jobId);
      return applied;
    });
    outcome = { ok: true, result };
  } catch (error) {
    return { ok: false, error };
  }
  await faultsAfterCommit(def.name, [item], [outcome]);
  return outcome;
}

export async function faultsBeforeCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  for (let i = 0; i < items.length; i++) if (outcomes[i].ok) await faultPoint('before_commit', queue, items[i].jobId);
}

export async function faultsAfterCommit(queue: string, items: BatchItem[], outcomes: ItemOutcome[]): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    const outcome = outcomes[i];
    if (outcome.ok && !outcome.result.replayed) await faultPoint('after_commit', queue, items[i].jobId);
  }
}
