import Decimal from 'decimal.js';
import { Charge, ChargeStatus } from './charge';
import { CreditRealization, realizedSum } from './credit';
import { DomainError, ValidationError } from './errors';
import { InvoicedUsage } from './invoiced-usage';
import { Payment } from './payment';
import { prorate, Proration } from './proration';
import { provisionRun, Run } from './run';
import { Period } from './time';

// A charge whose service period or price changed mid-period (a cancellation, an upgrade) is priced
// again; its current run, with everything realized on it, becomes a prior run kept as history.

export interface ReprorationInput {
  charge: Charge;
  /** The current run, with what was realized and invoiced on it. */
  run: Run | null;
  realizations: CreditRealization[];
  usage: InvoicedUsage | null;
  payment: Payment | null;
  servicePeriod: Period;
  /** The new price; the charge's own when absent. */
  amountBeforeProration: Decimal | undefined;
  newRunId: string;
  now: Date;
}

export type Reproration =
  | { kind: 'unchanged'; proration: Proration }
  | {
      kind: 'reprorated';
      /** The charge as it stands after: period, amounts, status and run pointer. */
      charge: Charge;
      proration: Proration;
      /** The run provisioned for the new amount; null for a charge that had no run (it gets one at activation). */
      newRun: Run | null;
      /** What the old run had realized: no longer counted once it is a prior run. */
      releasedCredits: Decimal;
    };

function samePeriod(a: Period, b: Period): boolean {
  return a.from.getTime() === b.from.getTime() && a.to.getTime() === b.to.getTime();
}

function requireWithinFullPeriod(charge: Charge, period: Period): void {
  const full = charge.fullServicePeriod;
  if (period.from < full.from || period.to > full.to) {
    throw new ValidationError([
      {
        path: 'servicePeriod',
        message: `servicePeriod must lie within the charge's fullServicePeriod ${full.from.toISOString()}..${full.to.toISOString()} [charge_id=${charge.id}]`,
      },
    ]);
  }
}

/**
 * An invoiced period changes through a credit note upstream, never here: a current run with
 * invoiced usage or a payment refuses the re-proration (not retried).
 */
function requireNotInvoiced(charge: Charge, input: ReprorationInput): void {
  if (input.usage || input.payment) {
    throw new DomainError('current_run_invoiced', `current run [id=${input.run?.id}] is invoiced; re-prorate through a credit note upstream [charge_id=${charge.id}]`);
  }
}

/** A credit_only charge that was funded waits again for one allocation of exactly its new amount. */
function statusAfter(charge: Charge): ChargeStatus {
  return charge.settlementMode === 'credit_only' && charge.status === 'final' ? 'active' : charge.status;
}

/**
 * The new amount follows create-charge's rule from the new period and price. The same period and
 * amounts change nothing. Otherwise the charge takes its new period and amounts, and a charge that
 * has a current run gets a new one (SPEC §2's rule), the old one left as it is.
 */
export function reprorate(input: ReprorationInput): Reproration {
  const { charge, run } = input;
  requireWithinFullPeriod(charge, input.servicePeriod);
  const amountBeforeProration = input.amountBeforeProration ?? charge.amountBeforeProration;
  const proration = prorate({
    currency: charge.currency,
    amountBeforeProration,
    servicePeriod: input.servicePeriod,
    fullServicePeriod: charge.fullServicePeriod,
    proRating: { enabled: charge.proRating === 'prorate_prices', mode: charge.proRating },
  });
  const unchanged =
    samePeriod(input.servicePeriod, charge.servicePeriod) &&
    amountBeforeProration.eq(charge.amountBeforeProration) &&
    proration.amountAfterProration.eq(charge.amountAfterProration);
  if (unchanged) return { kind: 'unchanged', proration };
  if (run) requireNotInvoiced(charge, input);

  const priced: Charge = {
    ...charge,
    servicePeriod: input.servicePeriod,
    amountBeforeProration,
    amountAfterProration: proration.amountAfterProration,
    updatedAt: input.now,
  };
  if (!run) return { kind: 'reprorated', charge: priced, proration, newRun: null, releasedCredits: new Decimal(0) };
  const status = statusAfter(charge);
  const newRun = provisionRun(priced, input.newRunId, input.now);
  return {
    kind: 'reprorated',
    charge: { ...priced, status, statusDetailed: status, currentRealizationRunId: newRun.id },
    proration,
    newRun,
    releasedCredits: realizedSum(input.realizations),
  };
}
