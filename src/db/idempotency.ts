import { createHash } from 'node:crypto';
import { Knex } from 'knex';
import { ConflictError } from '../domain/errors';
import { T } from './tables';

export interface KeyRef {
  queue: string;
  namespace: string;
  key: string;
}

/** The key a delivery is known by: the payload's idempotencyKey, else the BullMQ job id (SPEC §3). */
export function keyRefOf(queue: string, data: unknown, jobId: string | null): KeyRef {
  const d = (data ?? {}) as Record<string, unknown>;
  const key = typeof d.idempotencyKey === 'string' && d.idempotencyKey.length > 0 ? d.idempotencyKey : jobId ?? '';
  const namespace = typeof d.namespace === 'string' ? d.namespace : '';
  return { queue, namespace, key };
}

export type Claim = { replayed: false } | { replayed: true; result: Record<string, unknown> };

/** sha256 over the payload with sorted keys, the idempotency key itself left out. */
export function payloadHash(data: unknown): string {
  const { idempotencyKey: _key, ...rest } = (data ?? {}) as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Claims the key inside the effect's transaction. A concurrent twin blocks on the unique index
 * until the first commits (then sees its row) or rolls back (then claims it itself).
 */
export async function claimKey(trx: Knex.Transaction, ref: KeyRef, hash: string, jobId: string | null): Promise<Claim> {
  const inserted = await trx(T.idempotency)
    .insert({ ...ref, payload_hash: hash, job_id: jobId })
    .onConflict(['queue', 'namespace', 'key'])
    .ignore()
    .returning('key');
  if (inserted.length > 0) return { replayed: false };
  const row = await trx(T.idempotency).where(ref).first('payload_hash', 'result');
  if (row.payload_hash !== hash) {
    throw new ConflictError(
      'idempotency_key_conflict',
      `idempotency key "${ref.key}" was already used with a different payload [queue=${ref.queue}]`,
    );
  }
  return { replayed: true, result: row.result ?? {} };
}

export async function storeResult(trx: Knex.Transaction, ref: KeyRef, result: unknown): Promise<void> {
  await trx(T.idempotency).where(ref).update({ result: JSON.stringify(result) });
}

/** The stored result of an earlier job of this queue whose result names the given id. */
export async function findStoredResult(
  trx: Knex.Transaction,
  scope: { queue: string; namespace: string },
  field: string,
  value: string,
): Promise<Record<string, unknown> | null> {
  const row = await trx(T.idempotency)
    .where(scope)
    .whereRaw('result ->> ? = ?', [field, value])
    .whereRaw(`coalesce(result ->> 'alreadyDeleted', 'false') <> 'true'`)
    .orderBy('created_at')
    .first('result');
  return row?.result ?? null;
}
