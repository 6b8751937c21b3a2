import Decimal from 'decimal.js';
import { Knex } from 'knex';

// What the reliability tests compare: the ledger as the database holds it, reduced to the facts a
// billing engineer checks (status, run totals, every realization, usage, payment), next to a model
// the test computes on its own from the jobs it sent. Ids the worker generates are left out;
// realizations are known by their transaction group.

export const TOTAL_KEYS = ['amount', 'charges_total', 'discounts_total', 'taxes_inclusive_total', 'taxes_exclusive_total', 'taxes_total', 'credits_total', 'total'] as const;
export type TotalsRow = Record<(typeof TOTAL_KEYS)[number], string>;

export interface LedgerCharge {
  status: string;
  deleted: boolean;
  runs: number;
  runTotals: TotalsRow | null;
  /** `transactionGroupId|type|amount`, sorted. */
  realizations: string[];
  usage: TotalsRow | null;
  payment: { status: string; amount: string } | null;
}

export type Ledger = Record<string, LedgerCharge>;

/** Amounts compared by value: "12.50" and "12.5" are one amount. */
export const norm = (v: string | Decimal): string => new Decimal(v).toFixed();

export function zeroTotals(): TotalsRow {
  return Object.fromEntries(TOTAL_KEYS.map((k) => [k, '0'])) as TotalsRow;
}

/** Wire totals (camelCase) as the row shape. */
export function totalsRow(t: Record<string, string>): TotalsRow {
  const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(TOTAL_KEYS.map((k) => [k, norm(t[camel(k)])])) as TotalsRow;
}

export function creditOnlyTotals(sum: string): TotalsRow {
  return { ...zeroTotals(), amount: norm(sum), charges_total: norm(sum), credits_total: norm(sum) };
}

export function realizationKey(transactionGroupId: string, type: string, amount: string): string {
  return `${transactionGroupId}|${type}|${norm(amount)}`;
}

function totalsOf(row: Record<string, unknown> | undefined): TotalsRow | null {
  if (!row) return null;
  return Object.fromEntries(TOTAL_KEYS.map((k) => [k, norm(row[k] as string)])) as TotalsRow;
}

/** The namespace's ledger, one entry per charge (current run only; the tests make no prior runs). */
export async function readLedger(knex: Knex, namespace: string): Promise<Ledger> {
  const charges = await knex('charge_flat_fees').where({ namespace }).select('id', 'status', 'deleted_at', 'current_realization_run_id');
  const runs = await knex('charge_flat_fee_runs').where({ namespace });
  const realizations = await knex('charge_flat_fee_run_credit_allocations').where({ namespace }).whereNull('deleted_at');
  const usages = await knex('charge_flat_fee_run_invoiced_usages').where({ namespace }).whereNull('deleted_at');
  const payments = await knex('charge_flat_fee_run_payments').where({ namespace }).whereNull('deleted_at');
  const ledger: Ledger = {};
  for (const c of charges) {
    const runId = c.current_realization_run_id as string | null;
    const payment = payments.find((p) => p.run_id === runId);
    ledger[c.id] = {
      status: c.status,
      deleted: c.deleted_at !== null,
      runs: runs.filter((r) => r.charge_id === c.id).length,
      runTotals: totalsOf(runs.find((r) => r.id === runId)),
      realizations: realizations
        .filter((r) => r.run_id === runId)
        .map((r) => realizationKey(r.transaction_group_id, r.type, r.amount))
        .sort(),
      usage: totalsOf(usages.find((u) => u.run_id === runId)),
      payment: payment ? { status: payment.status, amount: norm(payment.amount) } : null,
    };
  }
  return ledger;
}

/** Row counts and sums per table, for the "row for row and sum for sum" check. */
export async function tableFigures(knex: Knex, namespace: string): Promise<Record<string, { rows: number; sum: string }>> {
  const tables: Array<[string, string]> = [
    ['charge_flat_fees', 'amount_after_proration'],
    ['charge_flat_fee_runs', 'total'],
    ['charge_flat_fee_run_credit_allocations', 'amount'],
    ['charge_flat_fee_run_invoiced_usages', 'total'],
    ['charge_flat_fee_run_payments', 'amount'],
    ['charge_flat_fee_run_detailed_lines', 'total'],
  ];
  const out: Record<string, { rows: number; sum: string }> = {};
  for (const [table, column] of tables) {
    const row = await knex(table).where({ namespace }).first(knex.raw('count(*)::int as rows'), knex.raw(`coalesce(sum(${column}), 0)::text as sum`));
    out[table] = { rows: row.rows, sum: norm(row.sum) };
  }
  return out;
}

/** The same figures computed from a model ledger. */
export function modelFigures(ledger: Ledger, amounts: Record<string, string>): Record<string, { rows: number; sum: string }> {
  const charges = Object.entries(ledger);
  const add = (xs: string[]) => xs.reduce((a, x) => a.plus(x), new Decimal(0)).toFixed();
  const realizations = charges.flatMap(([, c]) => c.realizations.map((r) => r.split('|')[2]));
  const usages = charges.flatMap(([, c]) => (c.usage ? [c.usage.total] : []));
  const payments = charges.flatMap(([, c]) => (c.payment ? [c.payment.amount] : []));
  const runs = charges.flatMap(([, c]) => (c.runTotals ? [c.runTotals.total] : []));
  return {
    charge_flat_fees: { rows: charges.length, sum: add(charges.map(([id]) => amounts[id])) },
    charge_flat_fee_runs: { rows: runs.length, sum: add(runs) },
    charge_flat_fee_run_credit_allocations: { rows: realizations.length, sum: add(realizations) },
    charge_flat_fee_run_invoiced_usages: { rows: usages.length, sum: add(usages) },
    charge_flat_fee_run_payments: { rows: payments.length, sum: add(payments) },
    charge_flat_fee_run_detailed_lines: { rows: 0, sum: '0' },
  };
}

/** Names the first charges that differ, so a failure reads as a ledger diff, not a 400-key dump. */
export function ledgerDiff(actual: Ledger, expected: Ledger, limit = 3): string[] {
  const ids = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  const out: string[] = [];
  for (const id of ids) {
    const a = JSON.stringify(actual[id]);
    const e = JSON.stringify(expected[id]);
    if (a !== e) out.push(`charge ${id}\n  actual   ${a}\n  expected ${e}`);
    if (out.length >= limit) break;
  }
  return out;
}
