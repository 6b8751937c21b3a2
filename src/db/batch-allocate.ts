import { CreditRealization } from '../domain/credit';
import { Totals } from '../domain/totals';
import { RUN_CHILD_COLUMNS, rowsByRun, rowsOfCurrentRuns, Scoped, TOTAL_COLUMNS } from './batch-charges';
import { fromDbRealization, toDbRealization, toDbTotals } from './mapping';
import { insertRows, SqlPart, TypedColumn, updateRows } from './batch-sql';
import { T } from './tables';

// Set-based statements for a batch of jobs: each is one round trip (or one part of the batch's single
// write, batch-sql.ts) whatever the batch size, with arrays bound through unnest so the statement
// text does not change with the batch.

/** Every realization of the current runs of the given charges, oldest first (realizationsOf groups them by run). */
export function realizationsOfCurrentRuns(charges: Scoped[]): SqlPart {
  return rowsOfCurrentRuns(T.realizations, charges, { orderBy: 'ORDER BY a.created_at, a.sort_hint, a.id' });
}

export function realizationsOf(rows: Record<string, unknown>[]): Map<string, CreditRealization[]> {
  return rowsByRun(rows, fromDbRealization);
}

export const REALIZATION_COLUMNS: TypedColumn[] = [
  ...RUN_CHILD_COLUMNS,
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
  return insertRows(T.realizations, REALIZATION_COLUMNS, realizations.map(toDbRealization));
}

/** Overwrites the totals of many runs in one UPDATE … FROM unnest. */
export function runTotalsUpdate(runs: Array<{ run: Scoped; totals: Totals; now: Date }>): SqlPart | null {
  const columns: TypedColumn[] = [['updated_at', 'timestamptz'], ...TOTAL_COLUMNS];
  return updateRows(T.runs, columns, runs.map((r) => ({ namespace: r.run.namespace, id: r.run.id, updated_at: r.now, ...toDbTotals(r.totals) })));
}
