import Decimal from 'decimal.js';
import { currencyPrecision } from './money';

/** The rounding SPEC §1 prescribes (decimal.js ROUND_HALF_UP), by the name a billing team uses. */
export const ROUNDING_MODE = 'half_away_from_zero' as const;
export type RoundingMode = typeof ROUNDING_MODE;

export type NoProrationReason = 'disabled' | 'no_prorate' | 'full_period' | 'zero_length_period';

/**
 * Every input and step of a charge's amountAfterProration, stored with the charge so the amount can
 * be explained and recomputed later. `ratio` is service/full reduced ("15/29"), "1/1" when the
 * amount was not scaled; `roundingDelta` = roundedAmount − unroundedAmount.
 */
export interface ProrationReceipt {
  currency: string;
  amountBeforeProration: Decimal;
  proRating: { enabled: boolean; mode: 'prorate_prices' | 'no_prorate' };
  servicePeriodMs: number;
  fullServicePeriodMs: number;
  ratio: string;
  unroundedAmount: Decimal;
  currencyPrecision: number;
  roundingMode: RoundingMode;
  roundedAmount: Decimal;
  roundingDelta: Decimal;
  notProratedBecause: NoProrationReason | null;
}

function gcd(a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b);
}

/** service/full as a reduced fraction of whole milliseconds: exact, unlike any decimal. */
export function exactRatio(serviceMs: number, fullMs: number): string {
  const n = BigInt(serviceMs);
  const d = BigInt(fullMs);
  const g = gcd(n, d);
  return `${n / g}/${d / g}`;
}

export interface ReceiptSteps {
  input: Pick<ProrationReceipt, 'currency' | 'amountBeforeProration' | 'proRating'>;
  serviceMs: number;
  fullMs: number;
  reason: NoProrationReason | null;
  unrounded: Decimal;
  rounded: Decimal;
}

export function buildReceipt(s: ReceiptSteps): ProrationReceipt {
  // Object.assign, not a spread followed by fields: see runChildFromDb (db/mapping.ts).
  return Object.assign({}, s.input, {
    servicePeriodMs: s.serviceMs,
    fullServicePeriodMs: s.fullMs,
    ratio: s.reason === null ? exactRatio(s.serviceMs, s.fullMs) : '1/1',
    unroundedAmount: s.unrounded,
    currencyPrecision: currencyPrecision(s.input.currency),
    roundingMode: ROUNDING_MODE,
    roundedAmount: s.rounded,
    roundingDelta: s.rounded.minus(s.unrounded),
    notProratedBecause: s.reason,
  });
}

/** The fields `explain` compares between a stored receipt and one recomputed by the current code. */
export const COMPARED_FIELDS = [
  'servicePeriodMs',
  'fullServicePeriodMs',
  'ratio',
  'unroundedAmount',
  'currencyPrecision',
  'roundingMode',
  'roundedAmount',
  'roundingDelta',
  'notProratedBecause',
] as const;
export type ComparedField = (typeof COMPARED_FIELDS)[number];

export interface ReceiptDifference {
  field: ComparedField | 'amountAfterProration';
  stored: string;
  recomputed: string;
}

export function fieldText(value: unknown): string {
  if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
  return value === null || value === undefined ? '-' : String(value);
}

/** Field by field, as text: a Decimal 51.720 and 51.72 are the same amount, so compare values. */
export function compareReceipts(stored: ProrationReceipt, recomputed: ProrationReceipt): ReceiptDifference[] {
  const differences: ReceiptDifference[] = [];
  for (const field of COMPARED_FIELDS) {
    const a = stored[field];
    const b = recomputed[field];
    const same = Decimal.isDecimal(a) && Decimal.isDecimal(b) ? (a as Decimal).eq(b as Decimal) : a === b;
    if (!same) differences.push({ field, stored: fieldText(a), recomputed: fieldText(b) });
  }
  return differences;
}
