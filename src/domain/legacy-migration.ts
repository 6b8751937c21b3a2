import { DomainError } from './errors';
import { money } from './money';

/**
 * The legacy → run migration (SPEC §7) as plain data: what a batch or a whole migration moved, and
 * the check that the legacy rows and their copies agree in count and amount, table by table.
 */
export const MIGRATED_TABLES = ['runs', 'allocations', 'detailedLines', 'invoicedUsages', 'payments'] as const;
export type MigratedTable = (typeof MIGRATED_TABLES)[number];

export type MigrationCounts = {
  charges: number;
  runs: number;
  allocations: number;
  detailedLines: number;
  invoicedUsages: number;
  payments: number;
};

export const NO_COUNTS: MigrationCounts = { charges: 0, runs: 0, allocations: 0, detailedLines: 0, invoicedUsages: 0, payments: 0 };

/** What a batch moved, read off its checks: the rows written per table. */
export function countsOf(checks: TableCheck[], charges: number): MigrationCounts {
  const written = (table: MigratedTable) => checks.find((c) => c.table === table)?.migrated.count ?? 0;
  return {
    charges,
    runs: written('runs'),
    allocations: written('allocations'),
    detailedLines: written('detailedLines'),
    invoicedUsages: written('invoicedUsages'),
    payments: written('payments'),
  };
}

export function addCounts(a: MigrationCounts, b: MigrationCounts): MigrationCounts {
  return {
    charges: a.charges + b.charges,
    runs: a.runs + b.runs,
    allocations: a.allocations + b.allocations,
    detailedLines: a.detailedLines + b.detailedLines,
    invoicedUsages: a.invoicedUsages + b.invoicedUsages,
    payments: a.payments + b.payments,
  };
}

/** Rows and the sum of their money column (runs: amount_after_proration; lines and usages: total). */
export interface RowsAndSum {
  count: number;
  sum: string;
}

export interface TableCheck {
  table: MigratedTable;
  legacy: RowsAndSum;
  migrated: RowsAndSum;
}

export interface Verification {
  ok: boolean;
  tables: TableCheck[];
  /** Legacy charges in scope still without a run: must be 0 once a migration finishes. */
  remainingCharges: number;
}

export function tableAgrees(check: TableCheck): boolean {
  return check.legacy.count === check.migrated.count && money(check.legacy.sum).eq(money(check.migrated.sum));
}

export function verification(tables: TableCheck[], remainingCharges: number): Verification {
  return { ok: remainingCharges === 0 && tables.every(tableAgrees), tables, remainingCharges };
}

function describe(check: TableCheck): string {
  const side = (s: RowsAndSum) => `${s.count} rows / ${money(s.sum).toFixed()}`;
  return `${check.table}: legacy ${side(check.legacy)} ≠ migrated ${side(check.migrated)}`;
}

/** The error that fails the job (and rolls back the batch it was raised in). */
export function mismatchError(scope: string, v: Verification): DomainError {
  const problems = v.tables.filter((c) => !tableAgrees(c)).map(describe);
  if (v.remainingCharges > 0) problems.push(`${v.remainingCharges} legacy charges still not migrated`);
  return new DomainError('legacy_migration_mismatch', `${scope}: ${problems.join('; ')}`);
}

/** The job's result (SPEC §7): counts of what was, or would be, moved. */
export type MigrationResult = MigrationCounts & {
  dryRun: boolean;
  verified: boolean;
};

export function migrationResult(dryRun: boolean, counts: MigrationCounts, verified: boolean): MigrationResult {
  return {
    dryRun,
    charges: counts.charges,
    runs: counts.runs,
    allocations: counts.allocations,
    detailedLines: counts.detailedLines,
    invoicedUsages: counts.invoicedUsages,
    payments: counts.payments,
    verified,
  };
}

/** What the job reports through job.updateProgress, and the CLI draws. */
export interface MigrationProgress {
  phase: 'counting' | 'migrating' | 'verifying' | 'done';
  chargesDone: number;
  chargesTotal: number;
  batches: number;
  counts?: MigrationCounts;
  verification?: Verification;
}
