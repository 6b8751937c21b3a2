import { Knex } from 'knex';
import { JournalEntry, JournalOutcome, JournalRecord, TableCounters } from '../domain/journal';
import { TOTAL_KEYS, TotalsJson, totalsToJson } from '../domain/totals';
import { fromDbTotals, TOTAL_COLUMN_NAMES } from './mapping';
import { T } from './tables';

export const JOURNAL_TABLE = 'flat_fee_job_journal';

/**
 * The tables a job's effect can write: every table of the schema but the bookkeeping ones (this
 * journal, the idempotency keys, knex's own). Named rather than discovered in pg_class on every
 * read, which made the snapshot the costliest statement of a job (bench/README.md);
 * test/jobs/journal-counters.test.ts holds the list to the migrated schema.
 */
export const EFFECT_TABLES: readonly string[] = Object.values(T).filter((table) => table !== T.idempotency);

// The same list as knex takes a binding (a mutable array), built once rather than per snapshot.
const EFFECT_TABLES_BINDING = [...EFFECT_TABLES];

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

// Row writes per table so far, from PostgreSQL's own per-backend counters (the functions behind
// pg_stat_xact_user_tables): no trigger and no repository has to count. They also hold earlier
// transactions of this connection not yet flushed to the shared statistics, so only a difference
// of two readings in one transaction is meaningful. Row counts fit a JSON number exactly.
const COUNTERS = `SELECT coalesce(json_agg(json_build_array(t.name, t.ins, t.upd, t.del)), '[]'::json) FROM (
    SELECT e.name, pg_stat_get_xact_tuples_inserted(e.name::regclass) AS ins,
           pg_stat_get_xact_tuples_updated(e.name::regclass) AS upd, pg_stat_get_xact_tuples_deleted(e.name::regclass) AS del
      FROM unnest(?::text[]) AS e(name)
  ) t WHERE t.ins + t.upd + t.del > 0`;

// The charge's row at the top level: FOR UPDATE inside a joined subquery (to get a row back even
// when the charge does not exist) cost PostgreSQL about 0.2 ms more of planning per snapshot.
function snapshotSql(lock: boolean): string {
  const totals = TOTAL_COLUMN_NAMES.map((c) => `r.${c}`).join(', ');
  return `SELECT (${COUNTERS}) AS counters, c.current_realization_run_id AS run_id, ${totals}
      FROM ${T.charges} c LEFT JOIN ${T.runs} r ON r.id = c.current_realization_run_id
     WHERE c.namespace = ? AND c.id = ?${lock ? ' FOR UPDATE OF c' : ''}`;
}

function countersOf(json: Array<[string, number, number, number]>): TableCounters {
  return new Map(json.map(([table, inserted, updated, deleted]) => [table, { inserted, updated, deleted }]));
}

/**
 * The table counters and the charge's current-run totals, in one round trip when the charge
 * exists. Before the effect the charge row is locked (the same lock every handler takes first, so
 * the lock order is unchanged): jobs on one charge serialize, so "before" of one entry is "after"
 * of the previous one.
 */
export async function readEffectSnapshot(trx: Knex.Transaction, namespace: string, chargeId: string | null, lock: boolean): Promise<EffectSnapshot> {
  if (chargeId !== null) {
    const { rows } = await trx.raw(snapshotSql(lock), [EFFECT_TABLES_BINDING, namespace, chargeId]);
    const row = rows[0] as Record<string, any> | undefined;
    if (row) return { counters: countersOf(row.counters), charge: { runId: row.run_id ?? null, totals: row.run_id ? totalsToJson(fromDbTotals(row)) : null } };
  }
  // No such charge (create-charge before its insert, a job naming an unknown charge): the counters alone.
  const { rows } = await trx.raw(`SELECT (${COUNTERS}) AS counters`, [EFFECT_TABLES_BINDING]);
  return { counters: countersOf(rows[0].counters), charge: null };
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
