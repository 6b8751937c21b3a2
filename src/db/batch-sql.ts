import { Knex } from 'knex';

/** One data-modifying statement of a batch, to be sent together with the others. */
export interface SqlPart {
  sql: string;
  bindings: unknown[];
}

/**
 * Sends every write of a batch as ONE statement: each part becomes a data-modifying CTE, which
 * PostgreSQL runs exactly once and to completion whether or not the outer SELECT reads it. The
 * parts share one snapshot, so none may depend on another's rows (foreign keys are checked at the
 * end of the statement, after all of them).
 */
export async function writeTogether(trx: Knex.Transaction, parts: Array<SqlPart | null>): Promise<void> {
  const present = parts.filter((p): p is SqlPart => p !== null);
  if (present.length === 0) return;
  const ctes = present.map((p, i) => `w${i} AS (${p.sql})`).join(',\n');
  await trx.raw(`WITH ${ctes}\nSELECT 1`, present.flatMap((p) => p.bindings) as Knex.RawBinding[]);
}
