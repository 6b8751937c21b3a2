import Decimal from 'decimal.js';
import { Charge } from './charge';
import { DomainError } from './errors';
import { Money, roundToCurrency, sum } from './money';
import { Run, RunChild } from './run';
import { Period } from './time';
import { Totals, creditOnlyTotals } from './totals';

export const REALIZATION_TYPES = ['allocation', 'correction'] as const;
export type RealizationType = (typeof REALIZATION_TYPES)[number];

export interface CreditRealization extends RunChild {
  servicePeriod: Period;
  transactionGroupId: string;
  amount: Decimal;
  lineId: string | null;
  type: RealizationType;
  correctsRealizationId: string | null;
  sortHint: number;
  annotations: Record<string, unknown> | null;
}

export interface RealizationInput {
  type: RealizationType;
  amount: Decimal;
  transactionGroupId: string;
  correctsRealizationId?: string;
  lineId?: string;
  servicePeriod?: Period;
  annotations?: Record<string, unknown>;
}

export interface AllocateCreditInput {
  charge: Charge;
  run: Run;
  /** The run's realizations so far (non-deleted ones count). */
  existing: CreditRealization[];
  batch: RealizationInput[];
  newId: () => string;
  now: Date;
}

export interface CreditAllocation {
  realizations: CreditRealization[];
  /** New run totals, when the settlement mode says the run's totals follow its credits. */
  runTotals: Totals | null;
  chargeBecomesFinal: boolean;
}

/** amount + every live correction that targets it: what a new correction may still take back. */
export function remainingOf(allocation: CreditRealization, realizations: CreditRealization[]): Decimal {
  const corrections = realizations.filter(
    (r) => r.deletedAt === null && r.type === 'correction' && r.correctsRealizationId === allocation.id,
  );
  return allocation.amount.plus(sum(corrections.map((c) => c.amount)));
}

/** Sum of the live realizations (allocations plus corrections) of a run. */
export function realizedSum(realizations: CreditRealization[]): Decimal {
  return sum(realizations.filter((r) => r.deletedAt === null).map((r) => r.amount));
}

/**
 * Applies one allocate-credit batch to the charge's current run (SPEC §3 allocate-credit).
 * Pure: it returns the rows to insert and what changes on the run and the charge.
 */
export function allocateCredit(input: AllocateCreditInput): CreditAllocation {
  const { charge, run, existing, batch } = input;
  if (charge.settlementMode === 'invoice_only') {
    throw new DomainError('credits_not_allowed', `invoice_only charges take no credits [charge_id=${charge.id}]`);
  }
  const hasAllocation = batch.some((r) => r.type === 'allocation');
  if (hasAllocation && charge.status !== 'active') {
    throw new DomainError(
      'charge_not_active',
      `credits can be allocated only to an active charge; it is ${charge.status} [charge_id=${charge.id}]`,
    );
  }
  const realizations = batch.map((r, index) => toRealization(input, r, index));
  checkCorrections(run, existing, realizations);

  const all = [...existing, ...realizations];
  const chargeAmount = roundToCurrency(charge.amountAfterProration, charge.currency);
  if (charge.settlementMode === 'credit_only') {
    if (batch.every((r) => r.type === 'allocation')) {
      const batchSum = roundToCurrency(realizedSum(realizations), charge.currency);
      if (!batchSum.eq(chargeAmount)) {
        throw new DomainError(
          'credit_allocations_do_not_match_total',
          `credit allocations do not match total: ${batchSum.toFixed()} allocated, charge amount is ` +
            `${chargeAmount.toFixed()} [charge_id=${charge.id}]`,
        );
      }
    }
    const net = Money.max(0, realizedSum(all));
    return { realizations, runTotals: creditOnlyTotals(net), chargeBecomesFinal: hasAllocation };
  }

  const net = roundToCurrency(realizedSum(all), charge.currency);
  if (hasAllocation && net.gt(chargeAmount)) {
    throw new DomainError(
      'credit_allocations_exceed_total',
      `credit allocations exceed total: ${net.toFixed()} would be allocated, charge amount is ` +
        `${chargeAmount.toFixed()} [charge_id=${charge.id}]`,
    );
  }
  return { realizations, runTotals: null, chargeBecomesFinal: false };
}

function toRealization(input: AllocateCreditInput, r: RealizationInput, index: number): CreditRealization {
  return {
    id: input.newId(),
    namespace: input.charge.namespace,
    runId: input.run.id,
    createdAt: input.now,
    updatedAt: input.now,
    deletedAt: null,
    servicePeriod: r.servicePeriod ?? input.run.servicePeriod,
    transactionGroupId: r.transactionGroupId,
    amount: r.amount,
    lineId: r.lineId ?? null,
    type: r.type,
    correctsRealizationId: r.type === 'correction' ? (r.correctsRealizationId ?? null) : null,
    sortHint: index,
    annotations: r.annotations ?? null,
  };
}

/** Each correction must target a live allocation of this run with enough left to take back. */
function checkCorrections(run: Run, existing: CreditRealization[], batch: CreditRealization[]): void {
  const seen = [...existing];
  for (const correction of batch) {
    if (correction.type === 'correction') {
      const target = existing.find(
        (r) => r.id === correction.correctsRealizationId && r.type === 'allocation' && r.deletedAt === null,
      );
      if (!target) {
        throw new DomainError(
          'insufficient_remaining_credit',
          `correction targets ${correction.correctsRealizationId}, which is not a live allocation of the ` +
            `current run [run_id=${run.id}]`,
        );
      }
      const remaining = remainingOf(target, seen);
      if (remaining.plus(correction.amount).isNegative()) {
        throw new DomainError(
          'insufficient_remaining_credit',
          `correction of ${correction.amount.toFixed()} exceeds the remaining ${remaining.toFixed()} of ` +
            `allocation ${target.id} [run_id=${run.id}]`,
        );
      }
    }
    seen.push(correction);
  }
}

/**
 * The corrections that take back every live allocation of a run, newest first (created_at, then
 * sort_hint, both descending), each for the allocation's remaining amount (delete-charge).
 */
export function reverseAllocations(
  run: Run,
  existing: CreditRealization[],
  transactionGroupId: string,
  newId: () => string,
  now: Date,
): CreditRealization[] {
  const allocations = existing
    .filter((r) => r.type === 'allocation' && r.deletedAt === null)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.sortHint - a.sortHint);
  const out: CreditRealization[] = [];
  for (const allocation of allocations) {
    const remaining = remainingOf(allocation, existing);
    if (remaining.gt(0)) {
      out.push({
        id: newId(),
        namespace: run.namespace,
        runId: run.id,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
        servicePeriod: allocation.servicePeriod,
        transactionGroupId,
        amount: remaining.negated(),
        lineId: allocation.lineId,
        type: 'correction',
        correctsRealizationId: allocation.id,
        sortHint: out.length,
        annotations: null,
      });
    }
  }
  return out;
}
