import { ConflictError, ErrorCode, NotFoundError } from '../domain/errors';

/** Unique constraints a job's write can meet, and the domain error each one means. */
const UNIQUE_CONFLICTS: Record<string, ErrorCode> = {
  charge_flat_fees_pkey: 'charge_already_exists',
  charge_flat_fees_unique_reference: 'unique_reference_id_conflict',
  // A charge's receipt is keyed by the charge: written beside it, it may be the first to meet the taken id.
  charge_flat_fee_proration_receipts_pkey: 'charge_already_exists',
};

/**
 * The single map from Postgres errors to domain errors: the unique violations above and foreign-key
 * violations become domain errors; everything else (serialization failures, deadlocks, dropped
 * connections, an unexpected constraint) passes through untouched so the worker retries it.
 */
export function mapPgError(err: unknown): unknown {
  const { code, detail = '', constraint = '' } = (err ?? {}) as { code?: string; detail?: string; constraint?: string };
  if (isUniqueViolation(err) && UNIQUE_CONFLICTS[constraint]) return new ConflictError(UNIQUE_CONFLICTS[constraint], `already exists: ${detail}`, { cause: err });
  if (code === '23503') return new NotFoundError('charge_not_found', `referenced row missing: ${detail}`, { cause: err });
  return err;
}

/**
 * A unique violation: a row this transaction read as absent (a key, a charge id) was written by
 * another that committed meanwhile. Redone once, the batch reads it as present.
 */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '23505';
}

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300']);
const RETRYABLE_MESSAGES = [
  /terminat/i,
  /not queryable/i,
  /ECONNRESET/,
  /ECONNREFUSED/,
  /EPIPE/,
  /Connection ended/i,
  /timeout acquiring a connection/i,
  /the database system is (starting up|shutting down)/i,
];

/**
 * Whether a non-domain error is a transient fault. knex masks 57P01 behind a ROLLBACK message when a
 * backend is terminated, so both the SQLSTATE and the message are checked (REFERENCE/RELIABILITY).
 */
export function isTransientFault(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  if (code && (RETRYABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  if (isStalePreparedStatement(err)) return true;
  const message = err instanceof Error ? err.message : String(err);
  return RETRYABLE_MESSAGES.some((re) => re.test(message));
}

/**
 * A statement prepared on a connection before a migration changed a table it returns (a column
 * added under `SELECT c.*`): PostgreSQL refuses to run it again. The batch transaction forgets the
 * connection's prepared statements when it meets this, and the batch is redone like any transient fault.
 */
export function isStalePreparedStatement(err: unknown): boolean {
  const { code, message = '' } = (err ?? {}) as { code?: string; message?: string };
  return code === '0A000' && /cached plan must not change result type/.test(message);
}
