import { Knex } from 'knex';
import { ConflictError } from '../domain/errors';
import { KeyRef } from './idempotency';
import { T } from './tables';

// Keys of jobs that run their own transactions (the legacy migration): the key is claimed when the
// work starts and its result recorded when it ends, each in a small transaction of its own, because
// the work in between commits batch by batch.

export type KeyState = { state: 'new' } | { state: 'unfinished' } | { state: 'finished'; result: Record<string, unknown> };

function conflict(ref: KeyRef): ConflictError {
  return new ConflictError('idempotency_key_conflict', `idempotency key "${ref.key}" was already used with a different payload [queue=${ref.queue}]`);
}

/** Reads a key without claiming it. A key seen with another payload is a conflict, as for claimKey. */
export async function findKey(db: Knex, ref: KeyRef, hash: string): Promise<KeyState> {
  const row = await db(T.idempotency).where(ref).first('payload_hash', 'result');
  if (!row) return { state: 'new' };
  if (row.payload_hash !== hash) throw conflict(ref);
  return row.result === null ? { state: 'unfinished' } : { state: 'finished', result: row.result };
}

/** Claims the key for this payload, result pending: the same key with another payload now conflicts. */
export async function claimUnfinishedKey(db: Knex, ref: KeyRef, hash: string, jobId: string | null): Promise<KeyState> {
  await db(T.idempotency).insert({ ...ref, payload_hash: hash, job_id: jobId }).onConflict(['queue', 'namespace', 'key']).ignore();
  return findKey(db, ref, hash);
}

/** Records the result once; a twin delivery that finished first keeps its own, which is returned. */
export async function finishKey(db: Knex, ref: KeyRef, result: Record<string, unknown>): Promise<KeyState> {
  const updated = await db(T.idempotency).where(ref).whereNull('result').update({ result: JSON.stringify(result) }).returning('key');
  if (updated.length > 0) return { state: 'finished', result };
  const row = await db(T.idempotency).where(ref).first('result');
  return { state: 'finished', result: { ...row.result, replayed: true } };
}
