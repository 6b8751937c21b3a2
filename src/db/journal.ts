import { Knex } from 'knex';
import { JournalEntry, JournalOutcome, JournalRecord } from '../domain/journal';
import { TOTAL_KEYS, TotalsJson, totalsToJson } from '../domain/totals';
import { fromDbTotals, TOTAL_COLUMN_NAMES } from './mapping';
import { T } from './tables';

export const JOURNAL_TABLE = 'flat_fee_job_journal';

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
    ...(row.run_change ? { runChange: row.run_change } : {}),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** A charge's timeline, oldest first (ids follow write order; jobs on one charge serialize). */
export async function listEntriesOfCharge(db: Knex, namespace: string, chargeId: string): Promise<JournalRecord[]> {
  const rows = await db(JOURNAL_TABLE).where({ namespace, charge_id: chargeId }).orderBy('id');
  return rows.map(fromRow);
}
