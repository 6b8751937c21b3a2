import { Knex } from 'knex';
import { MigratedTable, MigrationCounts, TableCheck, verification, Verification } from '../domain/legacy-migration';
import { BatchScope } from './legacy-migration';
import { T } from './tables';

// Reads that check the legacy migration (SPEC §7) as a whole: legacy rows against their copies,
// counted and summed independently on both sides (each batch checked itself as it wrote).

interface ChildTable {
  name: Exclude<MigratedTable, 'runs'>;
  legacy: string;
  migrated: string;
  /** The money column whose sums must agree. */
  amount: string;
}

const CHILD_TABLES: ChildTable[] = [
  { name: 'allocations', legacy: T.legacyAllocations, migrated: T.realizations, amount: 'amount' },
  { name: 'detailedLines', legacy: T.legacyDetailedLines, migrated: T.detailedLines, amount: 'total' },
  { name: 'invoicedUsages', legacy: T.legacyUsages, migrated: T.usages, amount: 'total' },
  { name: 'payments', legacy: T.legacyPayments, migrated: T.payments, amount: 'amount' },
];

interface CheckRow {
  tbl: MigratedTable;
  lc: string;
  ls: string;
  mc: string;
  ms: string;
}

function toCheck(row: CheckRow): TableCheck {
  return { table: row.tbl, legacy: { count: Number(row.lc), sum: row.ls }, migrated: { count: Number(row.mc), sum: row.ms } };
}

const scopeFilter = 'AND (CAST(:namespace AS text) IS NULL OR c.namespace = :namespace)';

/**
 * Every legacy row of a migrated charge in scope has its copy, same id, under the charge's current
 * run, and counts and sums agree. Runs are checked per batch: after the migration nothing tells a
 * migrated legacy charge from one created by the new code.
 */
export async function checkAllMigrated(db: Knex, scope: BatchScope): Promise<Verification> {
  const tables = CHILD_TABLES.map(
    (t) => `SELECT '${t.name}' AS tbl, count(l.id) AS lc, coalesce(sum(l.${t.amount}), 0)::text AS ls,
        count(n.id) AS mc, coalesce(sum(n.${t.amount}), 0)::text AS ms
      FROM ${t.legacy} l
      JOIN ${T.charges} c ON c.id = l.charge_id AND c.migrated_to_runs ${scopeFilter}
      LEFT JOIN ${t.migrated} n ON n.id = l.id AND n.run_id = c.current_realization_run_id`,
  );
  // One after another: the drop of the legacy tables runs this inside its transaction.
  const checks = await db.raw(tables.join('\nUNION ALL\n'), { namespace: scope.namespace });
  const remaining = await countUnmigratedCharges(db, scope);
  // UNION ALL promises no order; reports list the tables as CHILD_TABLES does.
  const order = (c: TableCheck) => CHILD_TABLES.findIndex((t) => t.name === c.table);
  return verification(checks.rows.map(toCheck).sort((a: TableCheck, b: TableCheck) => order(a) - order(b)), remaining);
}

/**
 * Fresh statistics for the tables a migration filled: the whole-scope check (and every later query)
 * would otherwise be planned as if the run tables were still empty.
 */
export async function analyzeMigratedTables(db: Knex): Promise<void> {
  // One table per connection: the samples are read side by side.
  await Promise.all([T.charges, T.runs, ...CHILD_TABLES.map((t) => t.migrated)].map((table) => db.raw(`ANALYZE ${table}`)));
}

export async function countUnmigratedCharges(db: Knex, scope: BatchScope): Promise<number> {
  const result = await db.raw(`SELECT count(*) AS n FROM ${T.charges} c WHERE NOT c.migrated_to_runs ${scopeFilter}`, {
    namespace: scope.namespace,
  });
  return Number(result.rows[0].n);
}

/** What a migration would move now (dry run): the unmigrated charges in scope and their rows. */
export async function countPending(db: Knex, scope: BatchScope): Promise<MigrationCounts> {
  const child = (t: ChildTable) =>
    `(SELECT count(*) FROM ${t.legacy} l JOIN ${T.charges} c ON c.id = l.charge_id WHERE NOT c.migrated_to_runs ${scopeFilter}) AS "${t.name}"`;
  const result = await db.raw(
    `SELECT (SELECT count(*) FROM ${T.charges} c WHERE NOT c.migrated_to_runs ${scopeFilter}) AS charges,
            ${CHILD_TABLES.map(child).join(',\n            ')}`,
    { namespace: scope.namespace },
  );
  const row = result.rows[0];
  const charges = Number(row.charges);
  return {
    charges,
    runs: charges,
    allocations: Number(row.allocations),
    detailedLines: Number(row.detailedLines),
    invoicedUsages: Number(row.invoicedUsages),
    payments: Number(row.payments),
  };
}

/** The legacy tables are gone once an operator ran drop-legacy-tables: nothing is left to move. */
export async function legacyTablesPresent(db: Knex): Promise<boolean> {
  const names = CHILD_TABLES.map((t) => t.legacy);
  const result = await db.raw('SELECT count(*) AS n FROM unnest(CAST(:names AS text[])) AS t(name) WHERE to_regclass(t.name) IS NOT NULL', { names });
  return Number(result.rows[0].n) === names.length;
}

export const LEGACY_CHILD_TABLES = CHILD_TABLES.map((t) => t.legacy);
