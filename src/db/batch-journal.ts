import { JournalEntry } from '../domain/journal';
import { SqlPart } from './batch-sql';
import { JOURNAL_TABLE } from './journal';
import { currentRunOf } from './batch-charges';

/**
 * Appends many journal entries (one part of the batch's single write), in the given order (ids follow it, so a
 * charge's timeline reads in the order its jobs were applied). An entry without a runId names its charge's current run as of now (charge_id
 * is text here, compared as bpchar so the lookup probes the charges' primary key: currentRunOf).
 */
export function journalInsert(entries: Array<Omit<JournalEntry, 'runId'> & { runId: string | null }>): SqlPart | null {
  if (entries.length === 0) return null;
  const col = <K extends keyof JournalEntry>(key: K, f: (v: JournalEntry[K]) => unknown = (v) => v) => entries.map((e) => f((e as JournalEntry)[key]));
  const docs = new JsonDictionary();
  return {
    sql: `INSERT INTO ${JOURNAL_TABLE} (queue, job_id, attempt, idempotency_key, payload_hash, namespace, charge_id, run_id, outcome,
                                   error_code, error_message, changes, totals_before, totals_after, run_change, started_at, finished_at)
     SELECT e.queue, e.job_id, e.attempt, e.idempotency_key, e.payload_hash, e.namespace, e.charge_id,
            coalesce(e.run_id, (SELECT c.run_id FROM (${currentRunOf('e.charge_id::bpchar')}) c WHERE c.namespace = e.namespace)),
            e.outcome, e.error_code, e.error_message, d.docs[e.changes], d.docs[e.totals_before], d.docs[e.totals_after], e.run_change, e.started_at, e.finished_at
       FROM unnest(?::text[], ?::text[], ?::integer[], ?::text[], ?::char(64)[], ?::text[], ?::text[], ?::text[], ?::text[],
                   ?::text[], ?::text[], ?::integer[], ?::integer[], ?::integer[], ?::jsonb[], ?::timestamptz[], ?::timestamptz[])
            WITH ORDINALITY AS e(queue, job_id, attempt, idempotency_key, payload_hash, namespace, charge_id, run_id, outcome,
                                 error_code, error_message, changes, totals_before, totals_after, run_change, started_at, finished_at, n)
      CROSS JOIN (SELECT ?::jsonb[] AS docs) d
      ORDER BY e.n`,
    bindings: [
      col('queue'),
      col('jobId'),
      col('attempt'),
      col('idempotencyKey'),
      col('payloadHash'),
      col('namespace'),
      col('chargeId'),
      col('runId'),
      col('outcome'),
      col('errorCode'),
      col('errorMessage'),
      col('changes', (v) => docs.indexOf(v)),
      col('totalsBefore', (v) => docs.indexOf(v)),
      col('totalsAfter', (v) => docs.indexOf(v)),
      col('runChange', (v) => (v ? JSON.stringify(v) : null)),
      col('startedAt'),
      col('finishedAt'),
      docs.texts,
    ],
  };
}

/**
 * The distinct JSON documents of a batch's entries, each named by its 1-based index (null for none).
 * A batch's entries mostly repeat the same changes and totals: each distinct one travels, and is
 * parsed by PostgreSQL, once.
 */
class JsonDictionary {
  readonly texts: string[] = [];
  private readonly index = new Map<string, number>();
  /** Entries of one charge share their totals objects while the totals do not move: each is serialized once. */
  private readonly seen = new Map<unknown, number>();

  indexOf(value: unknown): number | null {
    if (value === null || value === undefined) return null;
    let i = this.seen.get(value);
    if (i !== undefined) return i;
    const text = JSON.stringify(value);
    i = this.index.get(text);
    if (i === undefined) {
      i = this.texts.push(text);
      this.index.set(text, i);
    }
    this.seen.set(value, i);
    return i;
  }
}
