import { SqlPart } from './batch-sql';
import { KeyRef } from './idempotency';
import { T } from './tables';

export interface KeyClaim extends KeyRef {
  hash: string;
  jobId: string | null;
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
 * Claims many keys with one statement, in the effect's transaction. Sorted so two batches that share
 * keys (redeliveries) wait on each other in one order instead of deadlocking. Its rows name the
 * claimed keys (claimedOf).
 */
export function claimKeys(claims: KeyClaim[]): SqlPart {
  const sorted = [...claims].sort((a, b) => (keyId(a) < keyId(b) ? -1 : 1));
  return {
    sql: `INSERT INTO ${T.idempotency} (queue, namespace, key, payload_hash, job_id)
     SELECT q, n, k, h, nullif(j, '') FROM unnest(?::text[], ?::text[], ?::text[], ?::char(64)[], ?::text[]) WITH ORDINALITY AS c(q, n, k, h, j, o)
     ORDER BY o
     ON CONFLICT (queue, namespace, key) DO NOTHING
     RETURNING queue, namespace, key`,
    bindings: [sorted.map((c) => c.queue), sorted.map((c) => c.namespace), sorted.map((c) => c.key), sorted.map((c) => c.hash), sorted.map((c) => c.jobId ?? '')],
  };
}

export function claimedOf(rows: Record<string, unknown>[]): Set<string> {
  return new Set((rows as unknown as KeyRef[]).map(keyId));
}

/**
 * The stored hash and result of the keys, in one statement. Run after claimKeys, it sees the keys
 * a concurrent batch committed while this one waited on them; it also returns this batch's own
 * claims (result still empty), which the caller knows from claimedOf.
 */
export function loadStoredKeys(refs: KeyRef[]): SqlPart {
  return {
    sql: `SELECT k.queue, k.namespace, k.key, k.payload_hash, k.result
       FROM ${T.idempotency} k
       JOIN unnest(?::text[], ?::text[], ?::text[]) AS r(q, n, key) ON k.queue = r.q AND k.namespace = r.n AND k.key = r.key`,
    bindings: [refs.map((r) => r.queue), refs.map((r) => r.namespace), refs.map((r) => r.key)],
  };
}

export function storedOf(rows: Record<string, unknown>[]): Map<string, StoredKey> {
  const out = new Map<string, StoredKey>();
  for (const row of rows) out.set(keyId(row as unknown as KeyRef), { payloadHash: row.payload_hash as string, result: (row.result as Record<string, unknown> | null) ?? {} });
  return out;
}

/** Stores every job's result on its key record (one part of the batch's single write). */
export function resultsUpdate(entries: Array<{ ref: KeyRef; result: unknown }>): SqlPart | null {
  if (entries.length === 0) return null;
  return {
    sql: `UPDATE ${T.idempotency} k SET result = r.result
       FROM unnest(?::text[], ?::text[], ?::text[], ?::jsonb[]) AS r(q, n, key, result)
      WHERE k.queue = r.q AND k.namespace = r.n AND k.key = r.key`,
    bindings: [
      entries.map((e) => e.ref.queue),
      entries.map((e) => e.ref.namespace),
      entries.map((e) => e.ref.key),
      entries.map((e) => JSON.stringify(e.result)),
    ],
  };
}
