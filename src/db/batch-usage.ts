import { DetailedLine, InvoicedUsage } from '../domain/invoiced-usage';
import { Run } from '../domain/run';
import { RUN_CHILD_COLUMNS, rowsByRun, rowsOfCurrentRuns, Scoped, TOTAL_COLUMNS } from './batch-charges';
import { insertRows, SqlPart, TypedColumn, updateRows } from './batch-sql';
import { fromDbDetailedLine, toDbDetailedLine, toDbRun, toDbUsage } from './mapping';
import { T } from './tables';

// Set-based statements of create-invoiced-usage: read the live detailed lines of every current run
// and the runs that already carry the batch's lines; write the runs' invoice lines, the usages and
// the detailed lines, one statement each whatever the batch size.

/** Live detailed lines of the current runs, in the order listLiveDetailedLines reads them. */
export const liveLinesOfCurrentRuns = (charges: Scoped[]): SqlPart =>
  rowsOfCurrentRuns(T.detailedLines, charges, { liveOnly: true, orderBy: 'ORDER BY a.run_id, a."index", a.child_unique_reference_id' });

export function liveLinesOf(rows: Record<string, unknown>[]): Map<string, DetailedLine[]> {
  return rowsByRun(rows, fromDbDetailedLine);
}

/** The runs (any namespace: line ids are global) that carry any of these lines, as findRunIdByLine reads them. */
export function lineOwners(lineIds: string[]): SqlPart {
  // A probe of the unique line index per line: `line_id = ANY(…)` on a table whose statistics say it is small is a sequential scan.
  return {
    sql: `SELECT o.line_id, o.id FROM unnest(?::char(26)[]) AS l(line_id)
       CROSS JOIN LATERAL (SELECT r.line_id, r.id FROM ${T.runs} r WHERE r.line_id = l.line_id OFFSET 0) o`,
    bindings: [lineIds],
  };
}

export function lineOwnersOf(rows: Record<string, unknown>[]): Map<string, string> {
  return new Map(rows.map((row) => [row.line_id as string, row.id as string]));
}

/** The columns setRunInvoiceLine writes. */
export function runInvoiceLinesUpdate(runs: Run[]): SqlPart | null {
  const columns: TypedColumn[] = [['line_id', 'char(26)'], ['invoice_id', 'char(26)'], ['updated_at', 'timestamptz'], ...TOTAL_COLUMNS];
  return updateRows(T.runs, columns, runs.map(toDbRun));
}

export const USAGE_COLUMNS: TypedColumn[] = [
  ...RUN_CHILD_COLUMNS,
  ['service_period_from', 'timestamptz'],
  ['service_period_to', 'timestamptz'],
  ['ledger_transaction_group_id', 'text'],
  ...TOTAL_COLUMNS,
];

/** One usage per run, as upsertUsage writes it: a refresh keeps the row's id and created_at. */
export function usagesUpsert(usages: InvoicedUsage[]): SqlPart | null {
  const refreshed = USAGE_COLUMNS.map(([name]) => name).filter((name) => name !== 'id' && name !== 'created_at');
  const onConflict = `ON CONFLICT (run_id) DO UPDATE SET ${refreshed.map((name) => `${name} = excluded.${name}`).join(', ')}`;
  return insertRows(T.usages, USAGE_COLUMNS, usages.map(toDbUsage), onConflict);
}

export const LINE_COLUMNS: TypedColumn[] = [
  ...RUN_CHILD_COLUMNS,
  ['child_unique_reference_id', 'text'],
  ['name', 'text'],
  ['description', 'text'],
  ['quantity', 'numeric'],
  ['per_unit_amount', 'numeric'],
  ['category', 'text'],
  ['payment_term', 'text'],
  ['service_period_start', 'timestamptz'],
  ['service_period_end', 'timestamptz'],
  ['index', 'integer'],
  ...TOTAL_COLUMNS,
];

export const detailedLinesInsert = (lines: DetailedLine[]): SqlPart | null =>
  insertRows(T.detailedLines, LINE_COLUMNS, lines.map(toDbDetailedLine));

/** Lines that existed before the batch and were updated in it (then perhaps soft-deleted): every column but id and created_at. */
export const detailedLinesUpdate = (lines: DetailedLine[]): SqlPart | null =>
  updateRows(T.detailedLines, LINE_COLUMNS.filter(([name]) => !['id', 'namespace', 'created_at'].includes(name)), lines.map(toDbDetailedLine));

/** Lines that existed before the batch and were only soft-deleted in it: deleted_at and updated_at. */
export const detailedLinesSoftDelete = (lines: DetailedLine[]): SqlPart | null =>
  updateRows(T.detailedLines, LINE_COLUMNS.filter(([name]) => name === 'deleted_at' || name === 'updated_at'), lines.map(toDbDetailedLine));
