import { CreditRealization } from '../domain/credit';
import { formatAmount } from '../domain/money';
import { TOTAL_KEYS, Totals } from '../domain/totals';
import { rowsOfCurrentRuns, Scoped } from './batch-charges';
import { fromDbRealization, TOTAL_COLUMN_NAMES, toDbRealization } from './mapping';
import { SqlPart } from './batch-sql';
import { T } from './tables';

// Set-based statements for a batch of jobs: each is one round trip (or one part of the batch's single
// write, batch-sql.ts) whatever the batch size, with arrays bound through unnest so the statement
// text does not change with the batch.

/** Every realization of the current runs of the given charges, in the order the per-job path reads them (realizationsOf groups them by run). */
export function realizationsOfCurrentRuns(charges: Scoped[]): SqlPart {
  return rowsOfCurrentRuns(T.realizations, charges, 'ORDER BY a.created_at, a.sort_hint, a.id');
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
