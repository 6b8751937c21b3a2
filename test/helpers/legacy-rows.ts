import { Knex } from 'knex';
import { ulid } from 'ulid';

// Rows in the legacy shape (SPEC §7), written as an old deployment wrote them, for migration tests.

type Row = Record<string, unknown>;

const FROM = new Date('2026-01-01T00:00:00Z');
const TO = new Date('2026-02-01T00:00:00Z');
const CREATED = new Date('2025-12-20T10:00:00Z');

export async function legacyCharge(knex: Knex, namespace: string, overrides: Row = {}): Promise<string> {
  const id = (overrides.id as string) ?? ulid();
  await knex('charge_flat_fees').insert({
    id,
    namespace,
    customer_id: 'cust-legacy',
    currency: 'USD',
    name: 'Legacy fee',
    created_at: CREATED,
    updated_at: CREATED,
    status: 'final',
    status_detailed: 'final',
    settlement_mode: 'credit_only',
    payment_term: 'in_advance',
    invoice_at: FROM,
    service_period_from: FROM,
    service_period_to: TO,
    full_service_period_from: FROM,
    full_service_period_to: TO,
    billing_period_from: FROM,
    billing_period_to: TO,
    pro_rating: 'no_prorate',
    amount_before_proration: '100',
    amount_after_proration: '100',
    ...overrides,
  });
  return id;
}

/**
 * One row of a legacy child table of a charge: id (given or new), namespace, charge and creation
 * times as an old deployment wrote them, then the table's own fields (which may use the id).
 */
async function legacyChild(knex: Knex, table: string, namespace: string, chargeId: string, fields: (id: string) => Row, overrides: Row): Promise<string> {
  const id = (overrides.id as string) ?? ulid();
  await knex(table).insert({ id, namespace, charge_id: chargeId, created_at: CREATED, updated_at: CREATED, ...fields(id), ...overrides });
  return id;
}

export async function legacyAllocation(knex: Knex, namespace: string, chargeId: string, amount: string, overrides: Row = {}): Promise<string> {
  return legacyChild(
    knex,
    'charge_flat_fee_credit_allocations',
    namespace,
    chargeId,
    (id) => ({ service_period_from: FROM, service_period_to: TO, transaction_group_id: `tg-${id}`, amount, type: 'allocation', sort_hint: 0 }),
    overrides,
  );
}

export function legacyTotals(overrides: Partial<Record<string, string>> = {}): Row {
  return {
    amount: '0',
    charges_total: '0',
    discounts_total: '0',
    taxes_inclusive_total: '0',
    taxes_exclusive_total: '0',
    taxes_total: '0',
    credits_total: '0',
    total: '0',
    ...overrides,
  };
}

export async function legacyUsage(knex: Knex, namespace: string, chargeId: string, totals: Row, overrides: Row = {}): Promise<string> {
  return legacyChild(
    knex,
    'charge_flat_fee_invoiced_usages',
    namespace,
    chargeId,
    (id) => ({ service_period_from: FROM, service_period_to: TO, ledger_transaction_group_id: `ltg-${id}`, line_id: ulid(), mutable: true, ...totals }),
    overrides,
  );
}

export async function legacyPayment(knex: Knex, namespace: string, chargeId: string, amount: string, overrides: Row = {}): Promise<string> {
  return legacyChild(
    knex,
    'charge_flat_fee_payments',
    namespace,
    chargeId,
    (id) => ({
      line_id: ulid(),
      invoice_id: ulid(),
      service_period_from: FROM,
      service_period_to: TO,
      status: 'settled',
      amount,
      authorized_transaction_group_id: `atg-${id}`,
      authorized_at: TO,
      settled_transaction_group_id: `stg-${id}`,
      settled_at: TO,
    }),
    overrides,
  );
}

export async function legacyDetailedLine(knex: Knex, namespace: string, chargeId: string, childRef: string, total: string, overrides: Row = {}): Promise<string> {
  return legacyChild(
    knex,
    'charge_flat_fee_detailed_line',
    namespace,
    chargeId,
    () => ({
      child_unique_reference_id: childRef,
      name: `Line ${childRef}`,
      quantity: '1',
      per_unit_amount: total,
      category: 'regular',
      payment_term: 'in_advance',
      service_period_start: FROM,
      service_period_end: TO,
      index: 0,
      ...legacyTotals({ amount: total, charges_total: total, total }),
    }),
    overrides,
  );
}

/** Row counts of every flat-fee table, to show that something wrote nothing. */
export async function tableCounts(knex: Knex): Promise<Record<string, number>> {
  const tables = [
    'charge_flat_fees',
    'charge_flat_fee_runs',
    'charge_flat_fee_run_credit_allocations',
    'charge_flat_fee_run_invoiced_usages',
    'charge_flat_fee_run_payments',
    'charge_flat_fee_run_detailed_lines',
    'charge_flat_fee_credit_allocations',
    'charge_flat_fee_invoiced_usages',
    'charge_flat_fee_payments',
    'charge_flat_fee_detailed_line',
  ];
  const out: Record<string, number> = {};
  for (const table of tables) out[table] = Number((await knex(table).count({ n: '*' }))[0].n);
  out.migrated = Number((await knex('charge_flat_fees').where({ migrated_to_runs: true }).count({ n: '*' }))[0].n);
  return out;
}
