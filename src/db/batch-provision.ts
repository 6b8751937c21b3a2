import { Charge } from '../domain/charge';
import { Run } from '../domain/run';
import { RUN_COLUMNS } from './batch-charges';
import { insertRows, SqlPart, TypedColumn, updateRows } from './batch-sql';
import { toDbCharge, toDbRun } from './mapping';
import { StoredReceipt, toDbReceipt } from './receipts';
import { T } from './tables';

// Set-based statements of create-charge and activate-charge: new charges with their receipts and
// runs, and charges that go live or get their run, one statement each whatever the batch size.

const TIMESTAMPTZ = 'timestamptz';

const CHARGE_COLUMNS: TypedColumn[] = [
  ['id', 'char(26)'], ['namespace', 'text'], ['customer_id', 'text'], ['currency', 'varchar(3)'], ['name', 'text'], ['description', 'text'],
  ['unique_reference_id', 'text'], ['feature_key', 'text'], ['metadata', 'jsonb'], ['created_at', TIMESTAMPTZ], ['updated_at', TIMESTAMPTZ],
  ['deleted_at', TIMESTAMPTZ], ['status', 'text'], ['status_detailed', 'text'], ['settlement_mode', 'text'], ['payment_term', 'text'],
  ['invoice_at', TIMESTAMPTZ], ['advance_after', TIMESTAMPTZ], ['service_period_from', TIMESTAMPTZ], ['service_period_to', TIMESTAMPTZ],
  ['full_service_period_from', TIMESTAMPTZ], ['full_service_period_to', TIMESTAMPTZ], ['billing_period_from', TIMESTAMPTZ],
  ['billing_period_to', TIMESTAMPTZ], ['pro_rating', 'text'], ['amount_before_proration', 'numeric'], ['amount_after_proration', 'numeric'],
  ['current_realization_run_id', 'char(26)'], ['migrated_to_runs', 'boolean'],
];

const RECEIPT_COLUMNS: TypedColumn[] = [
  ['id', 'char(26)'], ['run_id', 'char(26)'], ['charge_id', 'char(26)'], ['namespace', 'text'], ['created_at', TIMESTAMPTZ], ['currency', 'text'], ['amount_before_proration', 'numeric'],
  ['pro_rating_enabled', 'boolean'], ['pro_rating_mode', 'text'], ['service_period_ms', 'bigint'], ['full_service_period_ms', 'bigint'],
  ['ratio', 'text'], ['unrounded_amount', 'numeric'], ['currency_precision', 'integer'], ['rounding_mode', 'text'], ['rounded_amount', 'numeric'],
  ['rounding_delta', 'numeric'], ['not_prorated_because', 'text'],
];

/** Every typed column list of this module, by table: a test holds them to the migrated schema. */
export const PROVISION_COLUMNS: Record<string, TypedColumn[]> = { [T.charges]: CHARGE_COLUMNS, [T.runs]: RUN_COLUMNS, [T.receipts]: RECEIPT_COLUMNS };

/**
 * New charges, already pointing at their runs: the charge and its run reference each other, and
 * the foreign keys of the write statement's parts are checked once the whole statement is done.
 */
export const chargesInsert = (charges: Charge[]): SqlPart | null => insertRows(T.charges, CHARGE_COLUMNS, charges.map(toDbCharge));
export const runsInsert = (runs: Run[]): SqlPart | null => insertRows(T.runs, RUN_COLUMNS, runs.map(toDbRun));
export const receiptsInsert = (receipts: StoredReceipt[]): SqlPart | null => insertRows(T.receipts, RECEIPT_COLUMNS, receipts.map(toDbReceipt));

/** Charges re-prorated: new service period and amounts, status (a final credit_only charge is active again), run pointer. */
export function chargesReprorate(charges: Charge[]): SqlPart | null {
  const columns: TypedColumn[] = [
    ['service_period_from', TIMESTAMPTZ], ['service_period_to', TIMESTAMPTZ], ['amount_before_proration', 'numeric'], ['amount_after_proration', 'numeric'],
    ['status', 'text'], ['status_detailed', 'text'], ['current_realization_run_id', 'char(26)'], ['updated_at', TIMESTAMPTZ],
  ];
  return updateRows(T.charges, columns, charges.map(toDbCharge));
}

/** Charges that went live or got their run: status, detailed status and run pointer as activate-charge leaves them. */
export function chargesGoLive(charges: Charge[]): SqlPart | null {
  const columns: TypedColumn[] = [['status', 'text'], ['status_detailed', 'text'], ['current_realization_run_id', 'char(26)'], ['updated_at', TIMESTAMPTZ]];
  return updateRows(T.charges, columns, charges.map(toDbCharge));
}
