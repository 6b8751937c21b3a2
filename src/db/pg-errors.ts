import { ConflictError, ErrorCode, NotFoundError } from '../domain/errors';

/**
 * The single map from Postgres errors to domain errors. Unique and foreign-key violations become
 * domain errors; everything else (serialization failures, deadlocks, dropped connections) passes
 * through untouched so the worker retries it.
 */
export function mapPgError(err: unknown, conflictCode: ErrorCode = 'charge_already_exists'): unknown {
  const code = (err as { code?: string } | null)?.code;
  const detail = (err as { detail?: string } | null)?.detail ?? '';
  if (code === '23505') return new ConflictError(conflictCode, `already exists: ${detail}`, { cause: err });
  if (code === '23503') return new NotFoundError('charge_not_found', `referenced row missing: ${detail}`, { cause: err });
  return err;
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
  const message = err instanceof Error ? err.message : String(err);
  return RETRYABLE_MESSAGES.some((re) => re.test(message));
}
