import { createHash } from 'node:crypto';
import { Knex } from 'knex';

/** One data-modifying statement of a batch, to be sent together with the others. */
export interface SqlPart {
  sql: string;
  bindings: unknown[];
}

const names = new Map<string, string>();

/** A stable statement name per text: the same text always maps to the same name, and no two texts share one. */
function statementName(sql: string): string {
  let name = names.get(sql);
  if (!name) {
    name = `ffw_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    names.set(sql, name);
  }
  return name;
}

/**
 * Runs a batch statement as a named prepared statement on the transaction's connection: PostgreSQL
 * parses and plans it once per connection instead of once per batch (planning one of these costs as
 * much as running it for 50 jobs). Only for the batch's fixed texts, whose arrays are bound through
 * unnest, so a generic plan probes indexes whatever the batch size.
 */
export function prepared(trx: Knex.Transaction, sql: string, bindings: readonly unknown[]): Knex.Raw {
  return trx.raw(sql, bindings as Knex.RawBinding[]).options({ name: statementName(sql) });
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
  await prepared(trx, `WITH ${ctes}\nSELECT 1`, present.flatMap((p) => p.bindings));
}
