/** One statement of a batch (or one part of its single write), with `?` placeholders for its values. */
export interface SqlPart {
  sql: string;
  bindings: unknown[];
}

/**
 * Every write of a batch as ONE statement: each part becomes a data-modifying CTE, which
 * PostgreSQL runs exactly once and to completion whether or not the outer SELECT reads it. The
 * parts share one snapshot, so none may depend on another's rows (foreign keys are checked at the
 * end of the statement, after all of them).
 */
export function writeTogether(parts: Array<SqlPart | null>): SqlPart | null {
  const present = parts.filter((p): p is SqlPart => p !== null);
  if (present.length === 0) return null;
  const ctes = present.map((p, i) => `w${i} AS (${p.sql})`).join(',\n');
  return { sql: `WITH ${ctes}\nSELECT 1`, bindings: present.flatMap((p) => p.bindings) };
}
