import Decimal from 'decimal.js';
import { DomainError } from './errors';
import { InvoicedUsage } from './invoiced-usage';
import { Run, RunChild } from './run';
import { Period } from './time';

export const PAYMENT_STATUSES = ['authorized', 'settled'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export interface Payment extends RunChild {
  lineId: string;
  invoiceId: string;
  servicePeriod: Period;
  status: PaymentStatus;
  amount: Decimal;
  authorizedTransactionGroupId: string;
  authorizedAt: Date;
  settledTransactionGroupId: string | null;
  settledAt: Date | null;
}

export interface PaymentEvent {
  lineId: string;
  invoiceId: string;
  transactionGroupId: string;
  at: Date;
}

export type AuthorizeOutcome = { kind: 'authorized'; payment: Payment } | { kind: 'skipped' };

function requireUsageForLine(run: Run, usage: InvoicedUsage | null, lineId: string): InvoicedUsage {
  if (!usage || run.lineId !== lineId) {
    throw new DomainError('invoiced_usage_required', `no invoiced usage for line ${lineId} yet [run_id=${run.id}]`);
  }
  return usage;
}

function rejectExisting(payment: Payment): never {
  if (payment.status === 'settled') {
    throw new DomainError('payment_already_settled', `payment ${payment.id} is already settled [run_id=${payment.runId}]`);
  }
  throw new DomainError('payment_already_authorized', `payment ${payment.id} is already authorized [run_id=${payment.runId}]`);
}

/** Authorizes the usage's total for its line; a zero total needs no payment at all. */
export function authorizePayment(
  run: Run,
  usage: InvoicedUsage | null,
  existing: Payment | null,
  event: PaymentEvent,
  id: string,
): AuthorizeOutcome {
  const invoiced = requireUsageForLine(run, usage, event.lineId);
  if (existing) rejectExisting(existing);
  if (invoiced.totals.total.isZero()) return { kind: 'skipped' };
  return {
    kind: 'authorized',
    payment: {
      id,
      namespace: run.namespace,
      runId: run.id,
      lineId: event.lineId,
      invoiceId: event.invoiceId,
      createdAt: event.at,
      updatedAt: event.at,
      deletedAt: null,
      servicePeriod: invoiced.servicePeriod,
      status: 'authorized',
      amount: invoiced.totals.total,
      authorizedTransactionGroupId: event.transactionGroupId,
      authorizedAt: event.at,
      settledTransactionGroupId: null,
      settledAt: null,
    },
  };
}

export type SettleOutcome = { kind: 'settled'; payment: Payment } | { kind: 'skipped' };

/**
 * Settles the authorized payment of this line. A usage whose total is zero had no payment to
 * authorize, so its settlement only finalizes the charge.
 */
export function settlePayment(
  run: Run,
  usage: InvoicedUsage | null,
  existing: Payment | null,
  event: PaymentEvent,
): SettleOutcome {
  if (existing?.status === 'settled') rejectExisting(existing);
  if (!existing && usage && run.lineId === event.lineId && usage.totals.total.isZero()) return { kind: 'skipped' };
  if (!existing || existing.lineId !== event.lineId) {
    throw new DomainError(
      'cannot_settle_not_authorized_payment',
      `no authorized payment for line ${event.lineId} to settle [run_id=${run.id}]`,
    );
  }
  return {
    kind: 'settled',
    payment: Object.assign({}, existing, {
      status: 'settled' as const,
      updatedAt: event.at,
      settledTransactionGroupId: event.transactionGroupId,
      settledAt: event.at,
    }),
  };
}
