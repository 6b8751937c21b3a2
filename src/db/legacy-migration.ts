import { Knex } from 'knex';
import { MigratedTable, TableCheck } from '../domain/legacy-migration';
import { T } from './tables';

// One batch of the legacy migration (SPEC §7), set-based: each statement moves the rows of every
// charge of the batch at once (INSERT … SELECT over the batch's charge → run pairs), so a batch costs
// a handful of round trips whatever its size. All of it runs in the caller's transaction.

/** The batch: legacy charges paired with the ids of the runs they get (a type: knex takes it as named bindings). */
export type BatchPairs = {
  chargeIds: string[];
  runIds: string[];
};

export interface BatchScope {
  namespace: string | null;
}

// The batch's pairs as a relation; ids are char(26) so the joins use the primary keys.
const PAIRS = 'unnest(CAST(:chargeIds AS char(26)[]), CAST(:runIds AS char(26)[])) AS m(charge_id, run_id)';

/** The next legacy charges in scope after `after`, in id order, read without a lock. */
export async function nextLegacyChargeIds(db: Knex, scope: BatchScope, after: string | null, limit: number): Promise<string[]> {
  const result = await db.raw(
    `SELECT id FROM ${T.charges}
      WHERE NOT migrated_to_runs
        AND (CAST(:after AS char(26)) IS NULL OR id > :after)
        AND (CAST(:namespace AS text) IS NULL OR namespace = :namespace)
      ORDER BY id
      LIMIT :limit`,
    { after, namespace: scope.namespace, limit },
  );
  return result.rows.map((r: { id: string }) => r.id);
}

/**
 * Locks the batch's charges in id order (one order for every batch and job) and keeps those still
 * legacy: a twin delivery of the job may have migrated some since they were read.
 */
export async function lockLegacyCharges(trx: Knex.Transaction, ids: string[]): Promise<string[]> {
  // Large batches cross jit_above_cost; compiling each statement would cost more than running it.
  await trx.raw('SET LOCAL jit = off');
  const result = await trx.raw(
    `SELECT id FROM ${T.charges} WHERE id = ANY(CAST(:ids AS char(26)[])) AND NOT migrated_to_runs ORDER BY id FOR UPDATE`,
    { ids },
  );
  return result.rows.map((r: { id: string }) => r.id);
}

interface CheckRow {
  lc: string;
  ls: string;
  mc: string;
  ms: string;
}

function toCheck(table: MigratedTable, row: CheckRow): TableCheck {
  return { table, legacy: { count: Number(row.lc), sum: row.ls }, migrated: { count: Number(row.mc), sum: row.ms } };
}

/**
 * Runs a copy (CTEs ending in one named moved, which RETURNs the money column as amount) and sets
 * what it wrote beside an independent count and sum of the legacy rows it had to copy.
 */
async function copyAndCheck(trx: Knex.Transaction, table: MigratedTable, pairs: BatchPairs, ctes: string, legacy: string): Promise<TableCheck> {
  const result = await trx.raw(
    `WITH ${ctes}
     SELECT l.c AS lc, l.s AS ls, n.c AS mc, n.s AS ms
       FROM (${legacy}) l,
            (SELECT count(*) AS c, coalesce(sum(amount), 0)::text AS s FROM moved) n`,
    pairs,
  );
  return toCheck(table, result.rows[0]);
}

const legacyRows = (table: string, amount: string) =>
  `SELECT count(*) AS c, coalesce(sum(${amount}), 0)::text AS s FROM ${table} WHERE charge_id = ANY(CAST(:chargeIds AS char(26)[]))`;

/**
 * The current run of each charge, and the charge pointed at it and marked migrated (the batch's
 * mark, committed with it). The run: final_realization, times and service period from the charge,
 * no line or invoice, no fiat transaction; totals from the live invoiced usage, else a credit_only
 * charge shows its credits (never below 0) and any other charge 0.
 */
export async function insertRunsAndPoint(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck> {
  const copy = `
    runs AS (
      INSERT INTO ${T.runs} (id, namespace, charge_id, created_at, updated_at, deleted_at, type, initial_type,
          service_period_from, service_period_to, amount_after_proration, line_id, invoice_id, no_fiat_transaction_required,
          amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total)
      SELECT m.run_id, c.namespace, c.id, c.created_at, c.updated_at, c.deleted_at, 'final_realization', 'final_realization',
          c.service_period_from, c.service_period_to, c.amount_after_proration, NULL, NULL, true,
          coalesce(u.amount, ca.credits), coalesce(u.charges_total, ca.credits), coalesce(u.discounts_total, 0),
          coalesce(u.taxes_inclusive_total, 0), coalesce(u.taxes_exclusive_total, 0), coalesce(u.taxes_total, 0),
          coalesce(u.credits_total, ca.credits), coalesce(u.total, 0)
        FROM ${PAIRS}
        JOIN ${T.charges} c ON c.id = m.charge_id
        LEFT JOIN ${T.legacyUsages} u ON u.charge_id = c.id AND u.namespace = c.namespace AND u.deleted_at IS NULL
        CROSS JOIN LATERAL (
          SELECT CASE WHEN c.settlement_mode = 'credit_only' THEN greatest(0, coalesce(sum(a.amount), 0)) ELSE 0 END AS credits
            FROM ${T.legacyAllocations} a
           WHERE a.charge_id = c.id AND a.namespace = c.namespace AND a.deleted_at IS NULL
        ) ca
      RETURNING id, charge_id, amount_after_proration
    ),
    moved AS (
      UPDATE ${T.charges} c SET current_realization_run_id = r.id, migrated_to_runs = true
        FROM runs r
       WHERE c.id = r.charge_id
      RETURNING r.amount_after_proration AS amount
    )`;
  const legacy = `SELECT count(*) AS c, coalesce(sum(amount_after_proration), 0)::text AS s FROM ${T.charges}
     WHERE id = ANY(CAST(:chargeIds AS char(26)[]))`;
  return copyAndCheck(trx, 'runs', pairs, copy, legacy);
}

/** Every allocation, soft-deleted ones and corrections too, with its id and corrects_realization_id. */
export async function copyAllocations(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck> {
  const copy = `
    INSERT INTO ${T.realizations} (id, namespace, run_id, created_at, updated_at, deleted_at, service_period_from,
        service_period_to, transaction_group_id, amount, line_id, type, corrects_realization_id, sort_hint, annotations)
    SELECT a.id, a.namespace, m.run_id, a.created_at, a.updated_at, a.deleted_at, a.service_period_from,
        a.service_period_to, a.transaction_group_id, a.amount, a.line_id, a.type, a.corrects_realization_id, a.sort_hint, a.annotations
      FROM ${PAIRS}
      JOIN ${T.legacyAllocations} a ON a.charge_id = m.charge_id
    RETURNING amount`;
  return copyAndCheck(trx, 'allocations', pairs, `moved AS (${copy})`, legacyRows(T.legacyAllocations, 'amount'));
}

const TOTALS = 'amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total';

/** Copies the rows of a legacy child table column for column, charge_id becoming the run's id. */
function copyStatement(legacy: string, target: string, columns: string, amount: string): string {
  return `moved AS (
    INSERT INTO ${target} (id, run_id, ${columns})
    SELECT l.id, m.run_id, ${columns.replace(/(\w+)/g, 'l.$1')}
      FROM ${PAIRS}
      JOIN ${legacy} l ON l.charge_id = m.charge_id
    RETURNING ${amount} AS amount)`;
}

export async function copyDetailedLines(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck> {
  const columns = `namespace, created_at, updated_at, deleted_at, child_unique_reference_id, name, description, quantity,
        per_unit_amount, category, payment_term, service_period_start, service_period_end, index, ${TOTALS}`;
  const copy = copyStatement(T.legacyDetailedLines, T.detailedLines, columns, 'total');
  return copyAndCheck(trx, 'detailedLines', pairs, copy, legacyRows(T.legacyDetailedLines, 'total'));
}

/** The usage moves without line_id and mutable: the line now hangs on the run (left NULL here). */
export async function copyInvoicedUsages(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck> {
  const columns = `namespace, created_at, updated_at, deleted_at, service_period_from, service_period_to,
        ledger_transaction_group_id, ${TOTALS}`;
  const copy = copyStatement(T.legacyUsages, T.usages, columns, 'total');
  return copyAndCheck(trx, 'invoicedUsages', pairs, copy, legacyRows(T.legacyUsages, 'total'));
}

export async function copyPayments(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck> {
  const columns = `namespace, line_id, invoice_id, created_at, updated_at, deleted_at, service_period_from, service_period_to,
        status, amount, authorized_transaction_group_id, authorized_at, settled_transaction_group_id, settled_at`;
  const copy = copyStatement(T.legacyPayments, T.payments, columns, 'amount');
  return copyAndCheck(trx, 'payments', pairs, copy, legacyRows(T.legacyPayments, 'amount'));
}

/**
 * Moves the batch's charges to runs, each table checked as it is written: the caller fails the
 * batch (rolling it back) unless every legacy count and sum equals what was written.
 */
export async function moveBatch(trx: Knex.Transaction, pairs: BatchPairs): Promise<TableCheck[]> {
  return [
    await insertRunsAndPoint(trx, pairs),
    await copyAllocations(trx, pairs),
    await copyDetailedLines(trx, pairs),
    await copyInvoicedUsages(trx, pairs),
    await copyPayments(trx, pairs),
  ];
}
