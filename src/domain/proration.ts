import Decimal from 'decimal.js';
import { Money, roundToCurrency } from './money';
import { buildReceipt, NoProrationReason, ProrationReceipt } from './receipt';
import { Period, periodMs } from './time';

export interface ProrationInput {
  currency: string;
  amountBeforeProration: Decimal;
  servicePeriod: Period;
  fullServicePeriod: Period;
  proRating: { enabled: boolean; mode: 'prorate_prices' | 'no_prorate' };
}

export type { NoProrationReason } from './receipt';

export interface Proration {
  amountAfterProration: Decimal;
  /** Why the amount was not scaled; null when it was. */
  notProratedBecause: NoProrationReason | null;
  /** Every input and step of the amount, stored with the charge (`explain`). */
  receipt: ProrationReceipt;
}

/**
 * amountAfterProration = round(amountBeforeProration × service/full) when proration is enabled in
 * prorate_prices mode and 0 < service < full; otherwise round(amountBeforeProration) (SPEC §3).
 */
export function prorate(input: ProrationInput): Proration {
  const service = periodMs(input.servicePeriod);
  const full = periodMs(input.fullServicePeriod);
  const reason = noProrationReason(input, service, full);
  const unrounded =
    reason === null
      ? new Money(input.amountBeforeProration).times(service).dividedBy(full)
      : new Money(input.amountBeforeProration);
  const rounded = roundToCurrency(unrounded, input.currency);
  const receiptInput = { currency: input.currency, amountBeforeProration: input.amountBeforeProration, proRating: input.proRating };
  return {
    amountAfterProration: rounded,
    notProratedBecause: reason,
    receipt: buildReceipt({ input: receiptInput, serviceMs: service, fullMs: full, reason, unrounded, rounded }),
  };
}

function noProrationReason(input: ProrationInput, service: number, full: number): NoProrationReason | null {
  if (!input.proRating.enabled) return 'disabled';
  if (input.proRating.mode !== 'prorate_prices') return 'no_prorate';
  if (service <= 0 || full <= 0) return 'zero_length_period';
  if (service >= full) return 'full_period';
  return null;
}

/** The stored pro_rating column: prorate_prices only when enabled in that mode (SPEC §2). */
export function storedProRating(proRating: ProrationInput['proRating']): 'prorate_prices' | 'no_prorate' {
  return proRating.enabled && proRating.mode === 'prorate_prices' ? 'prorate_prices' : 'no_prorate';
}
