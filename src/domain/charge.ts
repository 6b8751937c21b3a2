import Decimal from 'decimal.js';
import { DomainError } from './errors';
import { Period } from './time';

export const CHARGE_STATUSES = ['created', 'active', 'final', 'deleted'] as const;
export type ChargeStatus = (typeof CHARGE_STATUSES)[number];

export const SETTLEMENT_MODES = ['invoice_only', 'credit_then_invoice', 'credit_only'] as const;
export type SettlementMode = (typeof SETTLEMENT_MODES)[number];

export const PAYMENT_TERMS = ['in_advance', 'in_arrears'] as const;
export type PaymentTerm = (typeof PAYMENT_TERMS)[number];

export const PRO_RATING_MODES = ['prorate_prices', 'no_prorate'] as const;
export type ProRating = (typeof PRO_RATING_MODES)[number];

export interface Charge {
  id: string;
  namespace: string;
  customerId: string;
  currency: string;
  name: string;
  description: string | null;
  uniqueReferenceId: string | null;
  featureKey: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  status: ChargeStatus;
  statusDetailed: ChargeStatus;
  settlementMode: SettlementMode;
  paymentTerm: PaymentTerm;
  invoiceAt: Date;
  advanceAfter: Date | null;
  servicePeriod: Period;
  fullServicePeriod: Period;
  billingPeriod: Period;
  proRating: ProRating;
  amountBeforeProration: Decimal;
  amountAfterProration: Decimal;
  currentRealizationRunId: string | null;
  /** false while the charge still keeps its realizations in the legacy tables (SPEC §7). */
  migrated: boolean;
}

/**
 * The status machine: created → active → final, and any live state → deleted. Final is terminal but
 * for deletion; corrections accepted on a final charge leave it final.
 */
const TRANSITIONS: Record<ChargeStatus, readonly ChargeStatus[]> = {
  created: ['active', 'deleted'],
  active: ['final', 'deleted'],
  final: ['deleted'],
  deleted: [],
};

export function canTransition(from: ChargeStatus, to: ChargeStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function transition(charge: Pick<Charge, 'id' | 'status'>, to: ChargeStatus): ChargeStatus {
  if (!canTransition(charge.status, to)) {
    const code = to === 'final' || to === 'active' ? 'charge_not_active' : 'charge_deleted';
    throw new DomainError(code, `charge cannot go from ${charge.status} to ${to} [charge_id=${charge.id}]`);
  }
  return to;
}

/** Invoice modes are live (active, with a run) from creation; credit-only waits for activation. */
export function initialStatus(mode: SettlementMode): ChargeStatus {
  return mode === 'credit_only' ? 'created' : 'active';
}
