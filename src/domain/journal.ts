import { Money } from './money';
import { TOTAL_KEYS, TotalKey, TotalsJson } from './totals';

// The effect journal: one entry per job outcome, answering "did that retry double-charge, and what
// exactly did each delivery change?" from the worker's own data.

export const JOURNAL_OUTCOMES = ['applied', 'replayed', 'rejected'] as const;
export type JournalOutcome = (typeof JOURNAL_OUTCOMES)[number];

/** Row writes to one table within one job's transaction. */
export interface TableChange {
  inserted: number;
  updated: number;
  deleted: number;
}
/** Per table, only the non-zero counts: `{ charge_flat_fee_runs: { inserted: 1 } }`. */
export type TableChanges = Record<string, Partial<TableChange>>;

/** A job that moved the charge to a new current run (reprorate-charge): the run it left, and what that run had realized. */
export interface RunChange {
  previousRunId: string | null;
  releasedCredits: string;
}

export interface JournalEntry {
  queue: string;
  jobId: string | null;
  /** The delivery number (BullMQ attemptsStarted: a redelivery after a crash counts too). */
  attempt: number | null;
  idempotencyKey: string;
  payloadHash: string;
  namespace: string;
  chargeId: string | null;
  /** The charge's current run when the entry was written (after the effect for `applied`). */
  runId: string | null;
  outcome: JournalOutcome;
  errorCode: string | null;
  errorMessage: string | null;
  changes: TableChanges;
  /** Current-run totals under the charge lock before and after the effect; null when nothing was applied. */
  totalsBefore: TotalsJson | null;
  totalsAfter: TotalsJson | null;
  /** Only on an entry whose job moved the charge to a new current run. */
  runChange?: RunChange;
  startedAt: Date;
  finishedAt: Date;
}

export interface JournalRecord extends JournalEntry {
  id: string;
}

export interface MovedTotal {
  key: TotalKey;
  from: string;
  to: string;
}

/** The totals an effect moved; a run that did not exist before counts as all zeros. */
export function movedTotals(before: TotalsJson | null, after: TotalsJson | null): MovedTotal[] {
  if (!after) return [];
  // Equal texts are equal amounts: only differing texts ("0" and "0.00", or a real move) are parsed.
  const same = (a: string, b: string) => a === b || new Money(a).eq(b);
  return TOTAL_KEYS.filter((key) => !same(before?.[key] ?? '0', after[key])).map((key) => ({
    key,
    from: before?.[key] ?? '0',
    to: after[key],
  }));
}

function shortTable(table: string): string {
  return table === 'charge_flat_fees' ? 'charges' : table.replace(/^charge_flat_fee_(run_)?/, '');
}

// The charge and its runs first, then the run's children: the order a billing engineer reads them.
const FIRST_TABLES = ['charges', 'runs'];
function tableRank(name: string): string {
  const i = FIRST_TABLES.indexOf(name);
  return i >= 0 ? `0${i}` : `1${name}`;
}

/** `charges +1 ~1, runs +1`: + inserted, ~ updated, - deleted. */
export function describeChanges(changes: TableChanges): string {
  const named = Object.entries(changes).map(([table, c]) => [shortTable(table), c] as const);
  const parts = named.sort(([a], [b]) => tableRank(a).localeCompare(tableRank(b))).map(([table, c]) => {
    const counts = [c.inserted && `+${c.inserted}`, c.updated && `~${c.updated}`, c.deleted && `-${c.deleted}`].filter(Boolean);
    return `${table} ${counts.join(' ')}`;
  });
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

export function describeMoves(moved: MovedTotal[]): string {
  return moved.length > 0 ? moved.map((m) => `${m.key} ${m.from}→${m.to}`).join(', ') : '-';
}

/** The one-line summary copied to the BullMQ job log (shown in Bull Board next to the job). */
export function summarize(e: JournalEntry): string {
  const outcome = e.outcome === 'rejected' ? `rejected (${e.errorCode})` : e.outcome;
  const where = `charge=${e.chargeId ?? '-'} run=${e.runId ?? '-'}`;
  const moved = describeMoves(movedTotals(e.totalsBefore, e.totalsAfter));
  const change = e.runChange ? ` (was run=${e.runChange.previousRunId ?? '-'}, released ${e.runChange.releasedCredits})` : '';
  return `journal: ${outcome} attempt=${e.attempt ?? '-'} key=${e.idempotencyKey} ${where}${change} changed: ${describeChanges(e.changes)}; totals: ${moved}`;
}

/** The charge a payload (or, for create-charge without an id, its result) names; null for others. */
export function chargeIdOf(data: unknown, result?: Record<string, unknown>): string | null {
  const d = (data ?? {}) as Record<string, unknown>;
  const candidate = result?.chargeId ?? d.chargeId ?? d.id;
  return typeof candidate === 'string' && candidate.length > 0 ? candidate.slice(0, 255) : null;
}
