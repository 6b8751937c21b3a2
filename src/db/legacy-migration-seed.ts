import { Knex } from 'knex';
import { ulid } from 'ulid';
import { T } from './tables';

// Fills the legacy shape (SPEC §7) with a realistic mix, for migration tests and the benchmark.
// Rows are generated inside Postgres (generate_series), so a million charges need no round trip per
// row. Every choice derives from a hash of the charge's number: a seed gives the same data each time.
//
// The mix: 40% credit_only (created / active / final, 1–2 allocations summing to the amount, some
// corrected, some with a superseded soft-deleted allocation), 30% credit_then_invoice (half credited,
// the rest invoiced), 30% invoice_only; invoiced charges have a usage, 1–3 detailed lines (some
// replaced by a soft-deleted one) and, once final, a settled payment; 5% of all charges are deleted.

export interface SeedOptions {
  charges: number;
  namespaces?: string[];
  /** Same seed, same data (ids aside). */
  seed?: number;
  chunkSize?: number;
  onChunk?: (seeded: number) => void;
}

export interface SeedResult {
  charges: number;
  allocations: number;
  detailedLines: number;
  invoicedUsages: number;
  payments: number;
}

// Ids are ULIDs: the seed's timestamp and two random characters, a letter for the kind of row, and
// the row's number in hex (hex digits are valid Crockford base32).
const id = (kind: string, n: string) => `:prefix || '${kind}' || lpad(upper(to_hex(${n})), 13, '0')`;

/** One row per charge of the chunk with every fact the child rows depend on. */
const FACTS = `
  SELECT n, h, ${id('C', 'n')} AS id,
         (CAST(:namespaces AS text[]))[1 + n % cardinality(CAST(:namespaces AS text[]))] AS namespace,
         mode, status, currency, prec,
         round(CASE WHEN (h >> 40) % 10 = 0 THEN base / 2 ELSE base END, prec) AS amount,
         base AS amount_before, month
    FROM (
      SELECT n, h,
             CASE WHEN h % 100 < 40 THEN 'credit_only' WHEN h % 100 < 70 THEN 'credit_then_invoice' ELSE 'invoice_only' END AS mode,
             CASE WHEN (h >> 8) % 100 < 5 THEN 'deleted'
                  WHEN h % 100 < 40 THEN (CASE WHEN (h >> 8) % 100 < 20 THEN 'created' WHEN (h >> 8) % 100 < 35 THEN 'active' ELSE 'final' END)
                  WHEN (h >> 8) % 100 < 50 THEN 'active' ELSE 'final' END AS status,
             CASE (h >> 16) % 10 WHEN 0 THEN 'EUR' WHEN 1 THEN 'JPY' ELSE 'USD' END AS currency,
             CASE (h >> 16) % 10 WHEN 1 THEN 0 ELSE 2 END AS prec,
             round(((h >> 20) % 60000 + 100) / 100.0, CASE (h >> 16) % 10 WHEN 1 THEN 0 ELSE 2 END) AS base,
             CAST(n % 12 AS int) AS month
        FROM (SELECT n, (hashint8extended(n, :seed) & x'7fffffffffffffff'::bigint) AS h
                FROM generate_series(CAST(:from AS bigint), CAST(:to AS bigint)) AS n) g
    ) f`;

const PERIOD = `
  timestamptz '2025-01-01T00:00:00Z' + make_interval(months => f.month) AS p_from,
  timestamptz '2025-01-01T00:00:00Z' + make_interval(months => f.month + 1) AS p_to`;

/** Legacy charges that were invoiced: a usage with its line, and what it billed. */
const INVOICED = `f.mode <> 'credit_only' AND (f.status = 'final' OR (f.status <> 'created' AND (f.h >> 24) % 2 = 0))`;

async function insertCharges(trx: Knex.Transaction, b: Record<string, unknown>): Promise<void> {
  await trx.raw(
    `INSERT INTO charge_flat_fees (id, namespace, customer_id, currency, name, description, unique_reference_id, feature_key,
        metadata, created_at, updated_at, deleted_at, status, status_detailed, settlement_mode, payment_term, invoice_at,
        advance_after, service_period_from, service_period_to, full_service_period_from, full_service_period_to,
        billing_period_from, billing_period_to, pro_rating, amount_before_proration, amount_after_proration)
     SELECT f.id, f.namespace, 'cust-' || (f.n % 5000), f.currency, 'Flat fee ' || f.n, NULL, 'ref-' || f.id,
        CASE WHEN f.n % 3 = 0 THEN 'feature-' || (f.n % 7) END, '{"seeded": true}'::jsonb,
        p_from - interval '5 days', p_from - interval '5 days', CASE WHEN f.status = 'deleted' THEN p_from + interval '3 days' END,
        f.status, f.status, f.mode, CASE WHEN f.n % 4 = 0 THEN 'in_arrears' ELSE 'in_advance' END, p_from,
        NULL, p_from, p_to, p_from, p_to, p_from, p_to,
        CASE WHEN f.amount <> f.amount_before THEN 'prorate_prices' ELSE 'no_prorate' END, f.amount_before, f.amount
       FROM (SELECT f.*, ${PERIOD} FROM (${FACTS}) f) f`,
    b,
  );
}

/**
 * Allocations in slots of 8 per charge: 0–1 the live allocations, 2 a superseded soft-deleted one,
 * 3 a correction of slot 0.
 */
async function insertAllocations(trx: Knex.Transaction, b: Record<string, unknown>): Promise<void> {
  await trx.raw(
    `INSERT INTO ${T.legacyAllocations} (id, namespace, charge_id, created_at, updated_at, deleted_at, service_period_from,
        service_period_to, transaction_group_id, amount, line_id, type, corrects_realization_id, sort_hint, annotations)
     SELECT ${id('A', 'f.n * 8 + s.slot')}, f.namespace, f.id, p_from + make_interval(secs => s.slot), p_from + make_interval(secs => s.slot),
        CASE WHEN s.slot = 2 THEN p_from + interval '1 hour' END, p_from, p_to, 'tg-' || f.n || '-' || s.slot,
        s.amount, NULL, CASE WHEN s.slot = 3 THEN 'correction' ELSE 'allocation' END,
        CASE WHEN s.slot = 3 THEN ${id('A', 'f.n * 8')} END, CASE WHEN s.slot = 1 THEN 1 ELSE 0 END,
        CASE WHEN s.slot = 0 THEN '{"source": "ledger"}'::jsonb END
       FROM (SELECT f.*, ${PERIOD},
               CASE WHEN f.mode = 'credit_then_invoice' THEN round(f.amount / 2, f.prec) ELSE f.amount END AS credited,
               f.amount >= 10 AND (f.h >> 28) % 3 = 0 AS split
               FROM (${FACTS}) f) f
       CROSS JOIN LATERAL (VALUES
         (0, CASE WHEN f.split THEN round(f.credited * 0.6, f.prec) ELSE f.credited END, true),
         (1, f.credited - round(f.credited * 0.6, f.prec), f.split),
         (2, f.credited, (f.h >> 32) % 30 = 0),
         (3, -round(f.credited * 0.1, f.prec), (f.h >> 36) % 20 = 0 AND f.credited >= 10)
       ) AS s(slot, amount, present)
      WHERE s.present AND f.credited > 0
        AND ((f.mode = 'credit_only' AND f.status IN ('final', 'deleted'))
          OR (f.mode = 'credit_then_invoice' AND f.status <> 'created'))`,
    b,
  );
}

async function insertUsages(trx: Knex.Transaction, b: Record<string, unknown>): Promise<void> {
  await trx.raw(
    `INSERT INTO ${T.legacyUsages} (id, namespace, charge_id, created_at, updated_at, deleted_at, service_period_from,
        service_period_to, ledger_transaction_group_id, line_id, mutable,
        amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total)
     SELECT ${id('E', 'f.n')}, f.namespace, f.id, p_to, p_to, NULL, p_from, p_to, 'ltg-' || f.n, ${id('L', 'f.n')},
        f.status <> 'final', f.amount, f.amount, 0, 0, f.tax, f.tax, f.credits, f.amount + f.tax - f.credits
       FROM (SELECT f.*, ${PERIOD}, round(f.amount * 0.1, f.prec) AS tax,
               CASE WHEN f.mode = 'credit_then_invoice' THEN round(f.amount / 2, f.prec) ELSE 0 END AS credits
               FROM (${FACTS}) f) f
      WHERE ${INVOICED}`,
    b,
  );
}

/** Final invoiced charges were paid (settled); half of the open ones are authorized. */
async function insertPayments(trx: Knex.Transaction, b: Record<string, unknown>): Promise<void> {
  await trx.raw(
    `INSERT INTO ${T.legacyPayments} (id, namespace, charge_id, line_id, invoice_id, created_at, updated_at, deleted_at,
        service_period_from, service_period_to, status, amount, authorized_transaction_group_id, authorized_at,
        settled_transaction_group_id, settled_at)
     SELECT ${id('P', 'f.n')}, f.namespace, f.id, ${id('L', 'f.n')}, ${id('N', 'f.n')}, p_to, p_to, NULL, p_from, p_to,
        CASE WHEN f.status = 'final' THEN 'settled' ELSE 'authorized' END, u.total, 'atg-' || f.n, p_to + interval '1 day',
        CASE WHEN f.status = 'final' THEN 'stg-' || f.n END, CASE WHEN f.status = 'final' THEN p_to + interval '2 days' END
       FROM (SELECT f.*, ${PERIOD} FROM (${FACTS}) f) f
       JOIN ${T.legacyUsages} u ON u.id = ${id('E', 'f.n')}
      WHERE u.total > 0 AND (f.status = 'final' OR (f.h >> 44) % 2 = 0)`,
    b,
  );
}

/** 1–3 lines splitting the usage's amount (slots 0–2), and sometimes a replaced soft-deleted one (slot 3). */
async function insertDetailedLines(trx: Knex.Transaction, b: Record<string, unknown>): Promise<void> {
  await trx.raw(
    `INSERT INTO ${T.legacyDetailedLines} (id, namespace, charge_id, created_at, updated_at, deleted_at, child_unique_reference_id,
        name, description, quantity, per_unit_amount, category, payment_term, service_period_start, service_period_end, index,
        amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total)
     SELECT ${id('D', 'f.n * 4 + s.slot')}, f.namespace, f.id, p_to, p_to, CASE WHEN s.slot = 3 THEN p_to + interval '1 hour' END,
        'child-' || least(s.slot, 2), 'Line ' || s.slot, NULL, 1, s.amount, 'regular', 'in_advance', p_from, p_to, least(s.slot, 2),
        s.amount, s.amount, 0, 0, 0, 0, 0, s.amount
       FROM (SELECT f.*, ${PERIOD}, 1 + (f.h >> 48) % 3 AS k FROM (${FACTS}) f) f
       CROSS JOIN LATERAL (SELECT round(f.amount / f.k, f.prec) AS part) p
       CROSS JOIN LATERAL (VALUES
         (0, CASE WHEN f.k = 1 THEN f.amount ELSE p.part END, true),
         (1, CASE WHEN f.k = 2 THEN f.amount - p.part ELSE p.part END, f.k >= 2),
         (2, f.amount - 2 * p.part, f.k = 3),
         (3, f.amount, (f.h >> 52) % 20 = 0)
       ) AS s(slot, amount, present)
      WHERE s.present AND ${INVOICED}`,
    b,
  );
}

async function countRows(db: Knex, table: string, prefix: string): Promise<number> {
  const result = await db.raw(`SELECT count(*) AS n FROM ${table} WHERE id LIKE :like`, { like: `${prefix}%` });
  return Number(result.rows[0].n);
}

/** Seeds N legacy charges in chunks (one transaction each); returns the rows it wrote. */
export async function seedLegacy(knex: Knex, options: SeedOptions): Promise<SeedResult> {
  const prefix = ulid().slice(0, 12);
  const chunkSize = options.chunkSize ?? 50000;
  for (let from = 0; from < options.charges; from += chunkSize) {
    const to = Math.min(from + chunkSize, options.charges) - 1;
    const bindings = { prefix, seed: options.seed ?? 42, from, to, namespaces: options.namespaces ?? ['ns-legacy'] };
    await knex.transaction(async (trx) => {
      await insertCharges(trx, bindings);
      await insertAllocations(trx, bindings);
      await insertUsages(trx, bindings);
      await insertPayments(trx, bindings);
      await insertDetailedLines(trx, bindings);
    });
    options.onChunk?.(to + 1);
  }
  return {
    charges: await countRows(knex, T.charges, prefix),
    allocations: await countRows(knex, T.legacyAllocations, prefix),
    detailedLines: await countRows(knex, T.legacyDetailedLines, prefix),
    invoicedUsages: await countRows(knex, T.legacyUsages, prefix),
    payments: await countRows(knex, T.legacyPayments, prefix),
  };
}
