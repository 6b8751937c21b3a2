import { Knex } from 'knex';
import { JournalEntry, JournalOutcome, JournalRecord, TableCounters } from '../domain/journal';
import { TOTAL_KEYS, TotalsJson, totalsToJson } from '../domain/totals';
import { fromDbTotals, TOTAL_COLUMN_NAMES } from './mapping';
import { T } from './tables';

export const JOURNAL_TABLE = 'flat_fee_job_journal';

/** Bookkeeping, not effects: left out of what a job changed. */
const BOOKKEEPING_TABLES = [JOURNAL_TABLE, T.idempotency, 'knex_migrations', 'knex_migrations_lock'];

export interface RunTotalsSnapshot {
  runId: string | null;
  totals: TotalsJson | null;
}

/** What the journal reads before and after an effect, in the effect's transaction. */
export interface EffectSnapshot {
  counters: TableCounters;
  /** The charge's current run and its totals; null when the charge does not exist (or none is named). */
  charge: RunTotalsSnapshot | null;
}

// Row writes per table so far, from PostgreSQL's own per-backend counters: no trigger and no
// repository has to count. They also hold earlier transactions of this connection not yet flushed
// to the shared statistics, so only a difference of two readings in one transaction is meaningful.
// These are the functions behind pg_stat_xact_user_tables, without the view's join and GROUP BY
// over pg_index (about a third of the cost). Row counts fit a JSON number exactly.
const COUNTERS = `SELECT coalesce(json_agg(json_build_array(relname, n_tup_ins, n_tup_upd, n_tup_del)), '[]'::json) FROM (
    SELECT c.relname, pg_stat_get_xact_tuples_inserted(c.oid) AS n_tup_ins,
           pg_stat_get_xact_tuples_updated(c.oid) AS n_tup_upd, pg_stat_get_xact_tuples_deleted(c.oid) AS n_tup_del
      FROM pg_class c
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT (c.relname = ANY(?))
  ) t WHERE n_tup_ins + n_tup_upd + n_tup_del > 0`;

function snapshotSql(lock: boolean): string {
  const totals = TOTAL_COLUMN_NAMES.map((c) => `r.${c}`).join(', ');
  return `SELECT (${COUNTERS}) AS counters, s.*
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT true AS found, c.current_realization_run_id AS run_id, ${totals}
        FROM ${T.charges} c LEFT JOIN ${T.runs} r ON r.id = c.current_realization_run_id
       WHERE c.namespace = ? AND c.id = ?${lock ? ' FOR UPDATE OF c' : ''}
    ) s ON true`;
}

/**
 * The table counters and the charge's current-run totals in one round trip. Before the effect the
 * charge row is locked (the same lock every handler takes first, so the lock order is unchanged):
 * jobs on one charge serialize, so "before" of one entry is "after" of the previous one.
 */
export async function readEffectSnapshot(trx: Knex.Transaction, namespace: string, chargeId: string | null, lock: boolean): Promise<EffectSnapshot> {
  const { rows } = await trx.raw(snapshotSql(lock && chargeId !== null), [BOOKKEEPING_TABLES, namespace, chargeId]);
  const row = rows[0] as Record<string, any>;
  const counters: TableCounters = new Map(
    (row.counters as Array<[string, number, number, number]>).map(([table, inserted, updated, deleted]) => [table, { inserted, updated, deleted }]),
  );
  if (!row.found) return { counters, charge: null };
  return { counters, charge: { runId: row.run_id ?? null, totals: row.run_id ? totalsToJson(fromDbTotals(row)) : null } };
}

/** PostgreSQL text cannot hold NUL; a rejected payload may carry one, and its row must still be written. */
function pgText<T extends string | null>(value: T): T {
  return (value === null ? value : value.replace(/\u0000/g, '\uFFFD')) as T;
}

/**
 * Appends one entry. With `runId` undefined the row names the charge's current run as of now
 * (one statement, no extra round trip).
 */
export async function appendEntry(db: Knex, e: Omit<JournalEntry, 'runId'> & { runId?: string | null }): Promise<{ id: string; runId: string | null }> {
  const currentRun = db.raw(`(SELECT current_realization_run_id FROM ${T.charges} WHERE namespace = ? AND id = ?)`, [pgText(e.namespace), pgText(e.chargeId)]);
  const [row] = await db(JOURNAL_TABLE)
    .insert({
      queue: e.queue,
      job_id: pgText(e.jobId),
      attempt: e.attempt,
      idempotency_key: pgText(e.idempotencyKey),
      payload_hash: e.payloadHash,
      namespace: pgText(e.namespace),
      charge_id: pgText(e.chargeId),
      run_id: e.runId !== undefined ? e.runId : e.chargeId ? currentRun : null,
      outcome: e.outcome,
      error_code: e.errorCode,
      error_message: pgText(e.errorMessage),
      changes: JSON.stringify(e.changes),
      totals_before: e.totalsBefore ? JSON.stringify(e.totalsBefore) : null,
      totals_after: e.totalsAfter ? JSON.stringify(e.totalsAfter) : null,
      started_at: e.startedAt,
      finished_at: e.finishedAt,
    })
    .returning(['id', 'run_id']);
  return { id: row.id, runId: row.run_id };
}

/** jsonb keeps keys sorted by length; give them back in the contract's order (SPEC §3). */
function inTotalsOrder(totals: TotalsJson | null): TotalsJson | null {
  return totals && (Object.fromEntries(TOTAL_KEYS.map((k) => [k, totals[k]])) as TotalsJson);
}

function fromRow(row: Record<string, any>): JournalRecord {
  return {
    id: row.id,
    queue: row.queue,
    jobId: row.job_id,
    attempt: row.attempt,
    idempotencyKey: row.idempotency_key,
    payloadHash: row.payload_hash,
    namespace: row.namespace,
    chargeId: row.charge_id,
    runId: row.run_id,
    outcome: row.outcome as JournalOutcome,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    changes: row.changes,
    totalsBefore: inTotalsOrder(row.totals_before),
    totalsAfter: inTotalsOrder(row.totals_after),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** A charge's timeline, oldest first (ids follow write order; jobs on one charge serialize). */
export async function listEntriesOfCharge(db: Knex, namespace: string, chargeId: string): Promise<JournalRecord[]> {
  const rows = await db(JOURNAL_TABLE).where({ namespace, charge_id: chargeId }).orderBy('id');
  return rows.map(fromRow);
}
