import { SqlPart } from './batch-sql';
import { KeyRef } from './idempotency';
import { T } from './tables';

/** A key an applied job stores, with what a replay compares (hash) and answers (result). */
export interface NewKey extends KeyRef {
  hash: string;
  jobId: string | null;
  result: unknown;
}

export interface StoredKey {
  payloadHash: string;
  result: Record<string, unknown>;
}

/** `queue\u0000namespace\u0000key`: one map key per idempotency record. */
export function keyId(ref: KeyRef): string {
  return `${ref.queue}\u0000${ref.namespace}\u0000${ref.key}`;
}

/**
 * Stores the keys of the jobs a batch applied, each with its payload hash and result (one part of the
 * batch's single write). Written in key order, so two batches that meet on keys wait on each other in
 * one order. A key another transaction stored since this batch read it (a duplicate delivery no charge
 * lock kept apart, such as two create-charge jobs) is a unique violation: the engine redoes the batch,
 * and the redo reads the key as stored.
 */
export function keysInsert(keys: NewKey[]): SqlPart | null {
  if (keys.length === 0) return null;
  const sorted = keys
    .map((k) => ({ k, id: keyId(k) }))
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map(({ k }) => k);
  return {
    sql: `INSERT INTO ${T.idempotency} (queue, namespace, key, payload_hash, job_id, result)
     SELECT q, n, k, h, nullif(j, ''), r FROM unnest(?::text[], ?::text[], ?::text[], ?::char(64)[], ?::text[], ?::jsonb[]) WITH ORDINALITY AS c(q, n, k, h, j, r, o)
     ORDER BY o`,
    bindings: [
      sorted.map((c) => c.queue),
      sorted.map((c) => c.namespace),
      sorted.map((c) => c.key),
      sorted.map((c) => c.hash),
      sorted.map((c) => c.jobId ?? ''),
      sorted.map((c) => JSON.stringify(c.result)),
    ],
  };
}

/**
 * The stored hash and result of the keys, in one statement. Sent after the kind's reads, which lock
 * the batch's charges first: a key that a concurrent batch on the same charge stored while this one
 * waited on the lock is read as stored.
 */
export function loadStoredKeys(refs: KeyRef[]): SqlPart {
  return {
    sql: `SELECT s.queue, s.namespace, s.key, s.payload_hash, s.result FROM unnest(?::text[], ?::text[], ?::text[]) AS r(q, n, key)
       CROSS JOIN LATERAL (SELECT k.queue, k.namespace, k.key, k.payload_hash, k.result FROM ${T.idempotency} k
                            WHERE k.queue = r.q AND k.namespace = r.n AND k.key = r.key OFFSET 0) s`,
    bindings: [refs.map((r) => r.queue), refs.map((r) => r.namespace), refs.map((r) => r.key)],
  };
}

export function storedOf(rows: Record<string, unknown>[]): Map<string, StoredKey> {
  const out = new Map<string, StoredKey>();
  for (const row of rows) out.set(keyId(row as unknown as KeyRef), { payloadHash: row.payload_hash as string, result: (row.result as Record<string, unknown> | null) ?? {} });
  return out;
}

/**
 * For the given charges that are already deleted, the stored result of the job of `queue` that
 * deleted each (the first whose result names it, a repeat's answer left out): what a deletion
 * delivered again under another key answers with. Charges not deleted join no key at all.
 */
export function firstResultsOfDeleted(queue: string, charges: Array<{ namespace: string; id: string }>): SqlPart {
  return {
    sql: `SELECT DISTINCT ON (c.id) c.id AS charge_id, k.result FROM unnest(?::text[], ?::char(26)[]) AS u(namespace, id)
       CROSS JOIN LATERAL (SELECT c.id, c.namespace, c.status FROM ${T.charges} c WHERE c.id = u.id OFFSET 0) c
       JOIN ${T.idempotency} k ON k.queue = ? AND k.namespace = c.namespace AND k.result ->> 'chargeId' = c.id::text
                              AND coalesce(k.result ->> 'alreadyDeleted', 'false') <> 'true'
      WHERE c.namespace = u.namespace AND c.status = 'deleted'
      ORDER BY c.id, k.created_at`,
    bindings: [charges.map((c) => c.namespace), charges.map((c) => c.id), queue],
  };
}

export function resultsByCharge(rows: Record<string, unknown>[]): Map<string, Record<string, unknown>> {
  return new Map(rows.map((row) => [row.charge_id as string, row.result as Record<string, unknown>]));
}
