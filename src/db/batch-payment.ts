import { InvoicedUsage } from '../domain/invoiced-usage';
import { Payment } from '../domain/payment';
import { oneRowPerRun, rowsOfCurrentRuns, Scoped } from './batch-charges';
import { SqlPart } from './batch-sql';
import { fromDbPayment, fromDbUsage, toDbPayment } from './mapping';
import { T } from './tables';

// Set-based statements of the payment kind: read the usage and the payment of every current run,
// insert the authorized payments and settle the others, one statement each whatever the batch size.

export const usagesOfCurrentRuns = (charges: Scoped[]): SqlPart => rowsOfCurrentRuns(T.usages, charges);
export const paymentsOfCurrentRuns = (charges: Scoped[]): SqlPart => rowsOfCurrentRuns(T.payments, charges);

export const usagesOf = (rows: Record<string, unknown>[]): Map<string, InvoicedUsage> => oneRowPerRun(rows, fromDbUsage);
export const paymentsOf = (rows: Record<string, unknown>[]): Map<string, Payment> => oneRowPerRun(rows, fromDbPayment);

const PAYMENT_COLUMNS: Array<[string, string]> = [
  ['id', 'char(26)'],
  ['namespace', 'text'],
  ['run_id', 'char(26)'],
  ['line_id', 'char(26)'],
  ['invoice_id', 'char(26)'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['deleted_at', 'timestamptz'],
  ['service_period_from', 'timestamptz'],
  ['service_period_to', 'timestamptz'],
  ['status', 'text'],
  ['amount', 'numeric'],
  ['authorized_transaction_group_id', 'text'],
  ['authorized_at', 'timestamptz'],
  ['settled_transaction_group_id', 'text'],
  ['settled_at', 'timestamptz'],
];

/** New payments (a payment authorized and settled in the same batch is inserted settled). */
export function paymentsInsert(payments: Payment[]): SqlPart | null {
  if (payments.length === 0) return null;
  const rows = payments.map(toDbPayment);
  const names = PAYMENT_COLUMNS.map(([name]) => name).join(', ');
  const arrays = PAYMENT_COLUMNS.map(([, type]) => `?::${type}[]`).join(', ');
  return { sql: `INSERT INTO ${T.payments} (${names}) SELECT * FROM unnest(${arrays})`, bindings: PAYMENT_COLUMNS.map(([name]) => rows.map((r) => r[name])) };
}

/** Settles payments that existed before the batch: the columns markPaymentSettled writes. */
export function paymentsSettle(payments: Payment[]): SqlPart | null {
  if (payments.length === 0) return null;
  return {
    sql: `UPDATE ${T.payments} p SET status = u.status, settled_transaction_group_id = u.tg, settled_at = u.settled_at, updated_at = u.updated_at
       FROM unnest(?::text[], ?::char(26)[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[]) AS u(namespace, id, status, tg, settled_at, updated_at)
      WHERE p.namespace = u.namespace AND p.id = u.id`,
    bindings: [
      payments.map((p) => p.namespace),
      payments.map((p) => p.id),
      payments.map((p) => p.status),
      payments.map((p) => p.settledTransactionGroupId),
      payments.map((p) => p.settledAt),
      payments.map((p) => p.updatedAt),
    ],
  };
}
