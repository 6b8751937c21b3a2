import { Charge, ChargeStatus } from '../domain/charge';
import { CreditRealization } from '../domain/credit';
import { formatAmount } from '../domain/money';
import { Run } from '../domain/run';
import { TOTAL_KEYS, Totals } from '../domain/totals';
import { fromDbCharge, fromDbRealization, fromDbRun, TOTAL_COLUMN_NAMES, toDbRealization } from './mapping';
import { SqlPart } from './batch-sql';
import { T } from './tables';

// Set-based statements for a batch of jobs: each is one round trip (or one part of the batch's single
// write, batch-sql.ts) whatever the batch size, with arrays bound through unnest so the statement
// text does not change with the batch.

export interface Scoped {
  namespace: string;
  id: string;
}

export interface LockedCharge {
  charge: Charge;
  /** The run the charge's pointer names, when it exists (whether it belongs to the charge is checked by the caller). */
  run: Run | null;
}

const RUN_COLUMNS = [
  'id', 'namespace', 'charge_id', 'created_at', 'updated_at', 'deleted_at', 'type', 'initial_type', 'service_period_from',
  'service_period_to', 'amount_after_proration', 'line_id', 'invoice_id', 'no_fiat_transaction_required', ...TOTAL_COLUMN_NAMES,
];

function runOf(row: Record<string, unknown>): Run | null {
  if (row.r__id === null) return null;
  return fromDbRun(Object.fromEntries(RUN_COLUMNS.map((c) => [c, row[`r__${c}`]])));
}

/**
 * Locks every charge of the batch in id order (the order every batch uses, so batches never
 * deadlock on each other) and reads the current run of each in the same statement (lockedOf).
 * Missing charges are simply absent.
 */
export function lockChargesWithRuns(keys: Scoped[]): SqlPart {
  const runColumns = RUN_COLUMNS.map((c) => `r.${c} AS r__${c}`).join(', ');
  return {
    sql: `SELECT c.*, ${runColumns} FROM ${T.charges} c
       JOIN unnest(?::text[], ?::char(26)[]) AS k(namespace, id) ON c.namespace = k.namespace AND c.id = k.id
       LEFT JOIN ${T.runs} r ON r.namespace = c.namespace AND r.id = c.current_realization_run_id
      ORDER BY c.id
      FOR UPDATE OF c`,
    bindings: [keys.map((k) => k.namespace), keys.map((k) => k.id)],
  };
}

export function lockedOf(rows: Record<string, unknown>[]): Map<string, LockedCharge> {
  return new Map(rows.map((row) => [row.id as string, { charge: fromDbCharge(row), run: runOf(row) }]));
}

/**
 * Every realization of the current runs of the given charges, in the order the per-job path reads
 * them (realizationsOf groups them by run). Sent after lockChargesWithRuns in the same round trip,
 * with its own snapshot: the run pointers it follows are the ones the lock holds still.
 */
export function realizationsOfCurrentRuns(charges: Scoped[]): SqlPart {
  // One index probe per charge and per run, whatever the statistics say: a plain join on a table
  // whose statistics predate its rows (a fresh deployment before autovacuum's ANALYZE) hashes the
  // whole table per batch. OFFSET 0 keeps the planner from flattening the probes into such a join.
  return {
    sql: `SELECT a.* FROM unnest(?::text[], ?::char(26)[]) AS k(namespace, id)
       CROSS JOIN LATERAL (SELECT c.current_realization_run_id AS run_id FROM ${T.charges} c WHERE c.namespace = k.namespace AND c.id = k.id OFFSET 0) c
       CROSS JOIN LATERAL (SELECT * FROM ${T.realizations} r WHERE r.namespace = k.namespace AND r.run_id = c.run_id OFFSET 0) a
      ORDER BY a.created_at, a.sort_hint, a.id`,
    bindings: [charges.map((k) => k.namespace), charges.map((k) => k.id)],
  };
}

export function realizationsOf(rows: Record<string, unknown>[]): Map<string, CreditRealization[]> {
  const out = new Map<string, CreditRealization[]>();
  for (const row of rows) {
    const runId = row.run_id as string;
    let list = out.get(runId);
    if (!list) out.set(runId, (list = []));
    list.push(fromDbRealization(row));
  }
  return out;
}

const REALIZATION_COLUMNS: Array<[string, string]> = [
  ['id', 'char(26)'],
  ['namespace', 'text'],
  ['run_id', 'char(26)'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['deleted_at', 'timestamptz'],
  ['service_period_from', 'timestamptz'],
  ['service_period_to', 'timestamptz'],
  ['transaction_group_id', 'text'],
  ['amount', 'numeric'],
  ['line_id', 'char(26)'],
  ['type', 'text'],
  ['corrects_realization_id', 'char(26)'],
  ['sort_hint', 'integer'],
  ['annotations', 'jsonb'],
];

/** All new realizations of the batch in one INSERT … SELECT unnest, in the batch's order. */
export function realizationsInsert(realizations: CreditRealization[]): SqlPart | null {
  if (realizations.length === 0) return null;
  const rows = realizations.map(toDbRealization);
  const names = REALIZATION_COLUMNS.map(([name]) => name).join(', ');
  const arrays = REALIZATION_COLUMNS.map(([, type]) => `?::${type}[]`).join(', ');
  return { sql: `INSERT INTO ${T.realizations} (${names}) SELECT * FROM unnest(${arrays})`, bindings: REALIZATION_COLUMNS.map(([name]) => rows.map((r) => r[name])) };
}

/** Overwrites the totals of many runs in one UPDATE … FROM unnest. */
export function runTotalsUpdate(runs: Array<{ run: Scoped; totals: Totals; now: Date }>): SqlPart | null {
  if (runs.length === 0) return null;
  const sets = TOTAL_COLUMN_NAMES.map((c) => `${c} = u.${c}`).join(', ');
  const arrays = TOTAL_COLUMN_NAMES.map(() => '?::numeric[]').join(', ');
  return {
    sql: `UPDATE ${T.runs} r SET ${sets}, updated_at = u.updated_at
       FROM unnest(?::text[], ?::char(26)[], ?::timestamptz[], ${arrays}) AS u(namespace, id, updated_at, ${TOTAL_COLUMN_NAMES.join(', ')})
      WHERE r.namespace = u.namespace AND r.id = u.id`,
    bindings: [
      runs.map((r) => r.run.namespace),
      runs.map((r) => r.run.id),
      runs.map((r) => r.now),
      ...TOTAL_KEYS.map((key) => runs.map((r) => formatAmount(r.totals[key]))),
    ],
  };
}

/** Sets the status (and status_detailed) of many charges in one statement. */
export function chargeStatusUpdate(charges: Array<{ charge: Scoped; status: ChargeStatus; now: Date }>): SqlPart | null {
  if (charges.length === 0) return null;
  return {
    sql: `UPDATE ${T.charges} c SET status = u.status, status_detailed = u.status, updated_at = u.updated_at
       FROM unnest(?::text[], ?::char(26)[], ?::text[], ?::timestamptz[]) AS u(namespace, id, status, updated_at)
      WHERE c.namespace = u.namespace AND c.id = u.id`,
    bindings: [charges.map((c) => c.charge.namespace), charges.map((c) => c.charge.id), charges.map((c) => c.status), charges.map((c) => c.now)],
  };
}
