import { InvoicedUsage } from '../domain/invoiced-usage';
import { Payment } from '../domain/payment';
import { oneRowPerRun, RUN_CHILD_COLUMNS, rowsOfCurrentRuns, Scoped } from './batch-charges';
import { insertRows, SqlPart, TypedColumn, updateRows } from './batch-sql';
import { fromDbPayment, fromDbUsage, toDbPayment } from './mapping';
import { T } from './tables';

// Set-based statements of the payment kind: read the usage and the payment of every current run,
// insert the authorized payments and settle the others, one statement each whatever the batch size.

export const usagesOfCurrentRuns = (charges: Scoped[]): SqlPart => rowsOfCurrentRuns(T.usages, charges);
export const paymentsOfCurrentRuns = (charges: Scoped[]): SqlPart => rowsOfCurrentRuns(T.payments, charges);

export const usagesOf = (rows: Record<string, unknown>[]): Map<string, InvoicedUsage> => oneRowPerRun(rows, fromDbUsage);
export const paymentsOf = (rows: Record<string, unknown>[]): Map<string, Payment> => oneRowPerRun(rows, fromDbPayment);

export const PAYMENT_COLUMNS: TypedColumn[] = [
  ...RUN_CHILD_COLUMNS,
  ['line_id', 'char(26)'],
  ['invoice_id', 'char(26)'],
  ['service_period_from', 'timestamptz'],
  ['service_period_to', 'timestamptz'],
  ['status', 'text'],
  ['amount', 'numeric'],
  ['authorized_transaction_group_id', 'text'],
  ['authorized_at', 'timestamptz'],
  ['settled_transaction_group_id', 'text'],
  ['settled_at', 'timestamptz'],
];

const SETTLE_COLUMNS = ['status', 'settled_transaction_group_id', 'settled_at', 'updated_at'];

/** New payments (a payment authorized and settled in the same batch is inserted settled). */
export function paymentsInsert(payments: Payment[]): SqlPart | null {
  return insertRows(T.payments, PAYMENT_COLUMNS, payments.map(toDbPayment));
}

/** Settles payments that existed before the batch: the columns markPaymentSettled writes. */
export function paymentsSettle(payments: Payment[]): SqlPart | null {
  const columns = PAYMENT_COLUMNS.filter(([name]) => SETTLE_COLUMNS.includes(name));
  return updateRows(T.payments, columns, payments.map(toDbPayment));
}
