/**
 * Domain errors carry a stable snake_case code (SPEC §3). The worker edge turns them into BullMQ
 * outcomes: the codes in RETRIED_CODES are retried, every other code fails the job at once.
 */
export const ERROR_CODES = [
  'validation_failed',
  'charge_not_found',
  'current_run_required',
  'credit_allocations_do_not_match_total',
  'credits_not_allowed',
  'insufficient_remaining_credit',
  'invoiced_usage_already_exists',
  'line_already_used',
  'payment_already_authorized',
  'payment_already_settled',
  'cannot_settle_not_authorized_payment',
  'idempotency_key_conflict',
  'charge_not_migrated',
  'charge_deleted',
  'current_realization_run_not_loaded',
  'credit_allocations_exceed_total',
  'invoiced_usage_required',
  'charge_not_active',
  'current_run_invoiced',
  'charge_already_exists',
  'unique_reference_id_conflict',
  'legacy_migration_mismatch',
  'unknown_job',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Preconditions that may still come true: a later job creates the run, the usage, the payment. */
export const RETRIED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'current_run_required',
  'charge_not_migrated',
  'invoiced_usage_required',
  'cannot_settle_not_authorized_payment',
]);

export class DomainError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'DomainError';
    this.code = code;
  }
  get retried(): boolean {
    return RETRIED_CODES.has(this.code);
  }
}

export interface FieldProblem {
  path: string;
  message: string;
}

export class ValidationError extends DomainError {
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[]) {
    super('validation_failed', problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

export class NotFoundError extends DomainError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends DomainError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConflictError';
  }
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
