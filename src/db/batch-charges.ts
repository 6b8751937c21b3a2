import { ChargeStatus } from '../domain/charge';
import { Run } from '../domain/run';
import { SqlPart, TypedColumn, updateRows } from './batch-sql';
import type { LockedCharge } from '../domain/charge-checks';
import { fromDbCharge, fromDbRun, TOTAL_COLUMN_NAMES } from './mapping';
import { T } from './tables';

// The charge side of every set-based kind: lock a batch's charges with their current runs in one
// statement, read any child table of those runs, and write their statuses back.

/** The columns every run child table starts with (the migration's `common`): realizations, usage, payment, detailed lines. */
export const RUN_CHILD_COLUMNS: TypedColumn[] = [
  ['id', 'char(26)'],
  ['namespace', 'text'],
  ['run_id', 'char(26)'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['deleted_at', 'timestamptz'],
];

export interface Scoped {
  namespace: string;
  id: string;
}

/** The eight totals columns a run, a usage and a detailed line each carry. */
export const TOTAL_COLUMNS: TypedColumn[] = TOTAL_COLUMN_NAMES.map((c): TypedColumn => [c, 'numeric']);

/** Every column of a run: read with each charge it locks, written for a run it provisions. */
export const RUN_COLUMNS: TypedColumn[] = [
  ['id', 'char(26)'], ['namespace', 'text'], ['charge_id', 'char(26)'], ['created_at', 'timestamptz'], ['updated_at', 'timestamptz'],
  ['deleted_at', 'timestamptz'], ['type', 'text'], ['initial_type', 'text'], ['service_period_from', 'timestamptz'], ['service_period_to', 'timestamptz'],
  ['amount_after_proration', 'numeric'], ['line_id', 'char(26)'], ['invoice_id', 'char(26)'], ['no_fiat_transaction_required', 'boolean'],
  ...TOTAL_COLUMNS,
];


/**
 * Locks every charge of the batch in id order (the order every batch uses, so batches never
 * deadlock on each other), then reads their current runs in a statement of its own. The run must
 * not be joined into the locking statement: a charge whose lock waited on a concurrent job (an
 * activation that provisioned its run) comes back as that job committed it, but a joined row comes
 * from the snapshot taken before the wait, where the new run does not exist yet. Missing charges are
 * simply absent (lockedOf). Both probe the primary keys once per charge (see currentRunOf), and the
 * lock is taken probe by probe, so the keys go in sorted.
 */
export function lockChargesWithRuns(keys: Scoped[]): [SqlPart, SqlPart] {
  const sorted = [...keys].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const bindings = [sorted.map((k) => k.namespace), sorted.map((k) => k.id)];
  const lock = {
    sql: `SELECT c.* FROM unnest(?::text[], ?::char(26)[]) WITH ORDINALITY AS k(namespace, id, n)
       CROSS JOIN LATERAL (SELECT * FROM ${T.charges} c WHERE c.id = k.id OFFSET 0 FOR UPDATE) c
      WHERE c.namespace = k.namespace
      ORDER BY k.n`,
    bindings,
  };
  const runs = {
    sql: `SELECT r.* FROM unnest(?::text[], ?::char(26)[]) AS k(namespace, id)
       CROSS JOIN LATERAL (${currentRunOf('k.id')}) c
       CROSS JOIN LATERAL (SELECT * FROM ${T.runs} r WHERE r.id = c.run_id OFFSET 0) r
      WHERE c.namespace = k.namespace AND r.namespace = k.namespace`,
    bindings,
  };
  return [lock, runs];
}

/** The locked charges with the runs their pointers name (null where a pointer names no run: requirePointedRun refuses it). */
export function lockedOf(chargeRows: Record<string, unknown>[], runRows: Record<string, unknown>[]): Map<string, LockedCharge> {
  const runs = new Map(runRows.map((row) => [row.id as string, fromDbRun(row)]));
  return new Map(
    chargeRows.map((row) => {
      const charge = fromDbCharge(row);
      return [charge.id, { charge, run: charge.currentRealizationRunId === null ? null : runs.get(charge.currentRealizationRunId) ?? null }];
    }),
  );
}

/**
 * The probe of one charge's primary key by `id` (an outer column), for a LATERAL join: its current run and its
 * namespace, which the caller compares outside. Every batch statement keeps the plan it got on a
 * connection's first batch (batch-transaction.ts), maybe while the table was nearly empty: a LATERAL
 * subquery is probed once per row of the batch, OFFSET 0 keeps the planner from flattening it into a
 * join or pushing the namespace into it, where the (namespace, customer_id) index could serve it and
 * a probe would read every charge of the namespace.
 */
export function currentRunOf(id: string): string {
  return `SELECT c.current_realization_run_id AS run_id, c.namespace FROM ${T.charges} c WHERE c.id = ${id} OFFSET 0`;
}

/**
 * The rows of `table` (a run child: realizations, usage, payment) that belong to the current runs of
 * the given charges, as `a.*` (`liveOnly`: not soft-deleted). Sent after lockChargesWithRuns in the same round trip, with its own
 * snapshot: the run pointers it follows are the ones the lock holds still. One index probe per
 * charge and per run (currentRunOf), whatever the statistics said when the statement was planned.
 */
export function rowsOfCurrentRuns(table: string, charges: Scoped[], { orderBy = '', liveOnly = false } = {}): SqlPart {
  return {
    sql: `SELECT a.* FROM unnest(?::text[], ?::char(26)[]) AS k(namespace, id)
       CROSS JOIN LATERAL (${currentRunOf('k.id')}) c
       CROSS JOIN LATERAL (SELECT * FROM ${table} r WHERE r.run_id = c.run_id${liveOnly ? ' AND r.deleted_at IS NULL' : ''} OFFSET 0) a
      WHERE c.namespace = k.namespace AND a.namespace = k.namespace
      ${orderBy}`,
    bindings: [charges.map((k) => k.namespace), charges.map((k) => k.id)],
  };
}

/** Rows of one run child table by run id (the run has at most one such row: usage, payment). */
export function oneRowPerRun<T>(rows: Record<string, unknown>[], from: (row: Record<string, unknown>) => T): Map<string, T> {
  return new Map(rows.map((row) => [row.run_id as string, from(row)]));
}

/** Rows of one run child table grouped by run id, each group in the rows' order (realizations, detailed lines). */
export function rowsByRun<T>(rows: Record<string, unknown>[], from: (row: Record<string, unknown>) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const runId = row.run_id as string;
    let group = out.get(runId);
    if (!group) out.set(runId, (group = []));
    group.push(from(row));
  }
  return out;
}

/** The columns updateChargeStatus writes, and the row that sets them. */
const STATUS_COLUMNS: TypedColumn[] = [['status', 'text'], ['status_detailed', 'text'], ['updated_at', 'timestamptz']];

function statusRow(c: { charge: Scoped; status: ChargeStatus; now: Date }): Record<string, unknown> {
  return { namespace: c.charge.namespace, id: c.charge.id, status: c.status, status_detailed: c.status, updated_at: c.now };
}

/** Sets the status (and status_detailed) of many charges in one statement. */
export function chargeStatusUpdate(charges: Array<{ charge: Scoped; status: ChargeStatus; now: Date }>): SqlPart | null {
  return updateRows(T.charges, STATUS_COLUMNS, charges.map(statusRow));
}

/** Soft-deletes many charges in one statement: status `deleted` and deleted_at, as updateChargeStatus with its deletedAt. */
export function chargeDeletionUpdate(charges: Array<{ charge: Scoped; now: Date; deletedAt: Date }>): SqlPart | null {
  const columns: TypedColumn[] = [...STATUS_COLUMNS, ['deleted_at', 'timestamptz']];
  return updateRows(T.charges, columns, charges.map((c) => Object.assign(statusRow({ charge: c.charge, now: c.now, status: 'deleted' }), { deleted_at: c.deletedAt })));
}
