import Decimal from 'decimal.js';
import { Charge } from './charge';
import { Period } from './time';
import { Totals, zeroTotals } from './totals';

export const RUN_TYPES = ['final_realization', 'invalid_due_to_unsupported_credit_note'] as const;
export type RunType = (typeof RUN_TYPES)[number];

export interface Run {
  id: string;
  namespace: string;
  chargeId: string;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  type: RunType;
  initialType: RunType;
  servicePeriod: Period;
  amountAfterProration: Decimal;
  lineId: string | null;
  invoiceId: string | null;
  noFiatTransactionRequired: boolean;
  totals: Totals;
}

/** What every row living on a run carries: its id, namespace and run, and its audit times. */
export interface RunChild {
  id: string;
  namespace: string;
  runId: string;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

/** A voided run no longer realizes anything: a credit note invalidated it, or it was deleted. */
export function isVoided(run: Pick<Run, 'type' | 'deletedAt'>): boolean {
  return run.type === 'invalid_due_to_unsupported_credit_note' || run.deletedAt !== null;
}

/**
 * The run a charge gets when it goes live (SPEC §2 "Provisioning a run"). No fiat transaction is
 * needed when credits settle it all (credit_only) or when there is nothing to pay.
 */
export function provisionRun(charge: Charge, id: string, now: Date): Run {
  return {
    id,
    namespace: charge.namespace,
    chargeId: charge.id,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    type: 'final_realization',
    initialType: 'final_realization',
    servicePeriod: charge.servicePeriod,
    amountAfterProration: charge.amountAfterProration,
    lineId: null,
    invoiceId: null,
    noFiatTransactionRequired: charge.settlementMode === 'credit_only' || charge.amountAfterProration.isZero(),
    totals: zeroTotals(),
  };
}

/** Runs of a charge in their natural order: by service_period_to, then created_at. */
export function compareRuns(a: Run, b: Run): number {
  return (
    a.servicePeriod.to.getTime() - b.servicePeriod.to.getTime() || a.createdAt.getTime() - b.createdAt.getTime()
  );
}
