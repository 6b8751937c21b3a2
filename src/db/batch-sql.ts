/** One statement of a batch (or one part of its single write), with `?` placeholders for its values. */
export interface SqlPart {
  sql: string;
  bindings: unknown[];
  /**
   * Planned for its values each time instead of once per connection (batch-transaction.ts): an
   * UPDATE joins its target table to the batch's arrays, and a plan made while that table was
   * nearly empty would scan all of it once it is not.
   */
  planEachTime?: boolean;
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
  return { sql: `WITH ${ctes}\nSELECT 1`, bindings: present.flatMap((p) => p.bindings), planEachTime: present.some((p) => p.planEachTime) };
}

/** A column of a set-based statement: its name and the SQL type its array is cast to. */
export type TypedColumn = [name: string, type: string];

/** INSERT of many rows (column name → value) in one statement: one typed array per column, through unnest. */
export function insertRows(table: string, columns: TypedColumn[], rows: Array<Record<string, unknown>>, onConflict = ''): SqlPart | null {
  if (rows.length === 0) return null;
  const names = columns.map(([name]) => quoteName(name)).join(', ');
  const arrays = columns.map(([, type]) => `?::${type}[]`).join(', ');
  return {
    sql: `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${arrays})${onConflict ? ` ${onConflict}` : ''}`,
    bindings: columns.map(([name]) => rows.map((r) => r[name])),
  };
}

/**
 * UPDATE of many rows found by (namespace, id): each gets `columns` from its own values, in one
 * statement. Only the primary key finds a row: `IS NOT DISTINCT FROM` (the same as `=` on these NOT
 * NULL columns) is no index condition, so statistics older than the table cannot send a probe down a
 * (namespace, …) index that holds every row of the namespace.
 */
export function updateRows(table: string, columns: TypedColumn[], rows: Array<Record<string, unknown>>): SqlPart | null {
  if (rows.length === 0) return null;
  const all: TypedColumn[] = [['namespace', 'text'], ['id', 'char(26)'], ...columns];
  const sets = columns.map(([name]) => `${quoteName(name)} = u.${quoteName(name)}`).join(', ');
  return {
    sql: `UPDATE ${table} t SET ${sets}
       FROM unnest(${all.map(([, type]) => `?::${type}[]`).join(', ')}) AS u(${all.map(([name]) => quoteName(name)).join(', ')})
      WHERE t.id = u.id AND t.namespace IS NOT DISTINCT FROM u.namespace`,
    bindings: all.map(([name]) => rows.map((r) => r[name])),
    planEachTime: true,
  };
}

/** Column names are fixed identifiers of this code; `index` (a detailed line's) is a keyword. */
function quoteName(name: string): string {
  return `"${name}"`;
}
