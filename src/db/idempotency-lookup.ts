import { Knex } from 'knex';
import { ConflictError } from '../domain/errors';
import { KeyRef } from './idempotency';
import { T } from './tables';

/**
 * Reads a key without claiming it, for jobs that record their key only once they finish (they run
 * their own transactions). A key seen with another payload is the same conflict as for claimKey.
 */
export async function findStoredResult(db: Knex, ref: KeyRef, hash: string): Promise<Record<string, unknown> | null> {
  const row = await db(T.idempotency).where(ref).first('payload_hash', 'result');
  if (!row) return null;
  if (row.payload_hash !== hash) {
    throw new ConflictError('idempotency_key_conflict', `idempotency key "${ref.key}" was already used with a different payload [queue=${ref.queue}]`);
  }
  return row.result ?? {};
}
