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

/**
 * For the given charges that are already deleted, the stored result of the job of `queue` that
 * deleted each (the first whose result names it, a repeat's answer left out): what a deletion
 * delivered again under another key answers with. Charges not deleted join no key at all.
 */
export function firstResultsOfDeleted(queue: string, charges: Array<{ namespace: string; id: string }>): SqlPart {
  return {
    sql: `SELECT DISTINCT ON (c.id) c.id AS charge_id, k.result
       FROM ${T.charges} c
       JOIN unnest(?::text[], ?::char(26)[]) AS u(namespace, id) ON c.namespace = u.namespace AND c.id = u.id
       JOIN ${T.idempotency} k ON k.queue = ? AND k.namespace = c.namespace AND k.result ->> 'chargeId' = c.id::text
                              AND coalesce(k.result ->> 'alreadyDeleted', 'false') <> 'true'
      WHERE c.status = 'deleted'
      ORDER BY c.id, k.created_at`,
    bindings: [charges.map((c) => c.namespace), charges.map((c) => c.id), queue],
  };
}

export function resultsByCharge(rows: Record<string, unknown>[]): Map<string, Record<string, unknown>> {
  return new Map(rows.map((row) => [row.charge_id as string, row.result as Record<string, unknown>]));
}

/**
 * Gives back the keys this batch claimed for jobs that failed on their own (one part of the batch's
 * single write): a failed job leaves no record of its key, so its retry is not taken for a replay.
 */
export function keysRelease(refs: KeyRef[]): SqlPart | null {
  if (refs.length === 0) return null;
  return {
    sql: `DELETE FROM ${T.idempotency} k
      USING unnest(?::text[], ?::text[], ?::text[]) AS r(q, n, key)
      WHERE k.queue = r.q AND k.namespace = r.n AND k.key = r.key`,
    bindings: [refs.map((r) => r.queue), refs.map((r) => r.namespace), refs.map((r) => r.key)],
  };
}
