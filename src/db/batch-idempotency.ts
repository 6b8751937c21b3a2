import { Knex } from 'knex';
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
 * keys (redeliveries) wait on each other in one order instead of deadlocking. Returns the claimed ones.
 */
export async function claimKeys(trx: Knex.Transaction, claims: KeyClaim[]): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const sorted = [...claims].sort((a, b) => (keyId(a) < keyId(b) ? -1 : 1));
  const { rows } = await trx.raw(
    `INSERT INTO ${T.idempotency} (queue, namespace, key, payload_hash, job_id)
     SELECT q, n, k, h, nullif(j, '') FROM unnest(?::text[], ?::text[], ?::text[], ?::char(64)[], ?::text[]) WITH ORDINALITY AS c(q, n, k, h, j, o)
     ORDER BY o
     ON CONFLICT (queue, namespace, key) DO NOTHING
     RETURNING queue, namespace, key`,
    [sorted.map((c) => c.queue), sorted.map((c) => c.namespace), sorted.map((c) => c.key), sorted.map((c) => c.hash), sorted.map((c) => c.jobId ?? '')],
  );
  return new Set((rows as KeyRef[]).map(keyId));
}

/** The stored hash and result of keys seen before (replays), in one statement. */
export async function loadStoredKeys(trx: Knex.Transaction, refs: KeyRef[]): Promise<Map<string, StoredKey>> {
  if (refs.length === 0) return new Map();
  const { rows } = await trx.raw(
    `SELECT k.queue, k.namespace, k.key, k.payload_hash, k.result
       FROM ${T.idempotency} k
       JOIN unnest(?::text[], ?::text[], ?::text[]) AS r(q, n, key) ON k.queue = r.q AND k.namespace = r.n AND k.key = r.key`,
    [refs.map((r) => r.queue), refs.map((r) => r.namespace), refs.map((r) => r.key)],
  );
  const out = new Map<string, StoredKey>();
  for (const row of rows) out.set(keyId(row), { payloadHash: row.payload_hash, result: row.result ?? {} });
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
