import { createHash } from 'node:crypto';
import { Knex } from 'knex';
import { ConflictError } from '../domain/errors';
import { T } from './tables';

export interface KeyRef {
  queue: string;
  namespace: string;
  key: string;
}

/**
 * The key a delivery is known by (SPEC §3): the payload's idempotencyKey; else a custom job id as
 * given; else BullMQ's own numeric id with the job's creation time, because a Redis that lost its
 * data counts ids from 1 again and a new job "1" must never be taken for an old one.
 */
export function keyRefOf(queue: string, data: unknown, jobId: string | null, jobCreatedAt?: number): KeyRef {
  const d = (data ?? {}) as Record<string, unknown>;
  const key = typeof d.idempotencyKey === 'string' && d.idempotencyKey.length > 0 ? d.idempotencyKey : jobKey(jobId, jobCreatedAt);
  const namespace = typeof d.namespace === 'string' ? d.namespace : '';
  return { queue, namespace, key };
}

/**
 * BullMQ refuses integer custom ids ("Custom Id cannot be integers"), so an integer id is its own
 * counter's. The time is ISO-8601: its colons make it a key no custom id can be (BullMQ refuses ':').
 */
export function jobKey(jobId: string | null, jobCreatedAt: number | undefined): string {
  if (jobId === null) return '';
  if (!/^\d+$/.test(jobId) || jobCreatedAt === undefined || !Number.isFinite(jobCreatedAt)) return jobId;
  return `${jobId}@${new Date(jobCreatedAt).toISOString()}`;
}

export type Claim = { replayed: false } | { replayed: true; result: Record<string, unknown> };

/** sha256 over the payload with sorted keys, the idempotency key itself left out. */
export function payloadHash(data: unknown): string {
  const { idempotencyKey: _key, ...rest } = (data ?? {}) as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** An array or object being written: its members (by index, or by sorted key) and the next one to write. */
type Open = { close: string; array: unknown[] | null; object: Record<string, unknown> | null; keys: string[] | null; length: number; next: number };

/**
 * Sorted-key JSON with an explicit stack, never recursion: the hash is taken before validation, so a
 * 3,000-level payload must hash (and then fail validation) instead of overflowing the stack.
 * Same text as the recursive form: undefined members are null, arrays keep their order.
 */
export function canonicalJson(root: unknown): string {
  let out = '';
  const stack: Open[] = [];
  let value: unknown = root;
  for (;;) {
    if (Array.isArray(value)) {
      out += '[';
      stack.push({ close: ']', array: value, object: null, keys: null, length: value.length, next: 0 });
    } else if (value && typeof value === 'object') {
      const keys = Object.keys(value).sort();
      out += '{';
      stack.push({ close: '}', array: null, object: value as Record<string, unknown>, keys, length: keys.length, next: 0 });
    } else {
      out += JSON.stringify(value) ?? 'null';
    }
    let top = stack[stack.length - 1];
    while (top && top.next >= top.length) {
      out += top.close;
      stack.pop();
      top = stack[stack.length - 1];
    }
    if (!top) return out;
    if (top.next > 0) out += ',';
    if (top.keys) {
      const key = top.keys[top.next++];
      out += `${JSON.stringify(key)}:`;
      value = top.object![key];
    } else {
      value = top.array![top.next++];
    }
  }
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
