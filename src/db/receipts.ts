import { Knex } from 'knex';
import { formatAmount, Money } from '../domain/money';
import { NoProrationReason, ProrationReceipt, RoundingMode } from '../domain/receipt';
import { T } from './tables';

const TABLE = T.receipts;

type Row = Record<string, any>;

export interface StoredReceipt extends ProrationReceipt {
  /** The charge's first receipt has the charge's id; a re-proration's receipt its own. */
  id: string;
  chargeId: string;
  /** The run this amount priced; null for a charge that had no run yet. */
  runId: string | null;
  namespace: string;
  createdAt: Date;
}

export function toDbReceipt(r: StoredReceipt): Row {
  return {
    id: r.id,
    run_id: r.runId,
    charge_id: r.chargeId,
    namespace: r.namespace,
    created_at: r.createdAt,
    currency: r.currency,
    amount_before_proration: formatAmount(r.amountBeforeProration),
    pro_rating_enabled: r.proRating.enabled,
    pro_rating_mode: r.proRating.mode,
    service_period_ms: r.servicePeriodMs,
    full_service_period_ms: r.fullServicePeriodMs,
    ratio: r.ratio,
    unrounded_amount: formatAmount(r.unroundedAmount),
    currency_precision: r.currencyPrecision,
    rounding_mode: r.roundingMode,
    rounded_amount: formatAmount(r.roundedAmount),
    rounding_delta: formatAmount(r.roundingDelta),
    not_prorated_because: r.notProratedBecause,
  };
}

export async function insertReceipt(trx: Knex.Transaction, r: StoredReceipt): Promise<void> {
  await trx(TABLE).insert(toDbReceipt(r));
}

// bigint columns arrive as strings; millisecond counts stay far below 2^53, so Number() is exact.
function fromRow(row: Row): StoredReceipt {
  return {
    id: row.id,
    runId: row.run_id,
    chargeId: row.charge_id,
    namespace: row.namespace,
    createdAt: row.created_at,
    currency: row.currency,
    amountBeforeProration: new Money(row.amount_before_proration),
    proRating: { enabled: row.pro_rating_enabled, mode: row.pro_rating_mode },
    servicePeriodMs: Number(row.service_period_ms),
    fullServicePeriodMs: Number(row.full_service_period_ms),
    ratio: row.ratio,
    unroundedAmount: new Money(row.unrounded_amount),
    currencyPrecision: row.currency_precision,
    roundingMode: row.rounding_mode as RoundingMode,
    roundedAmount: new Money(row.rounded_amount),
    roundingDelta: new Money(row.rounding_delta),
    notProratedBecause: row.not_prorated_because as NoProrationReason | null,
  };
}

/** The receipt of the charge's amount as it stands: its latest. */
export async function findReceipt(db: Knex, namespace: string, chargeId: string): Promise<StoredReceipt | null> {
  const row = await db(TABLE).where({ namespace, charge_id: chargeId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).first();
  return row ? fromRow(row) : null;
}

/** Every receipt of the charge, oldest first: creation, then each re-proration. */
export async function listReceipts(db: Knex, namespace: string, chargeId: string): Promise<StoredReceipt[]> {
  const rows = await db(TABLE).where({ namespace, charge_id: chargeId }).orderBy([{ column: 'created_at' }, { column: 'id' }]);
  return rows.map(fromRow);
}
