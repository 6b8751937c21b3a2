import Decimal from 'decimal.js';
import { Money, formatAmount } from './money';

/** The eight totals every run, usage and detailed line carries (SPEC §3). */
export const TOTAL_KEYS = [
  'amount',
  'chargesTotal',
  'discountsTotal',
  'taxesInclusiveTotal',
  'taxesExclusiveTotal',
  'taxesTotal',
  'creditsTotal',
  'total',
] as const;
export type TotalKey = (typeof TOTAL_KEYS)[number];
export type Totals = Record<TotalKey, Decimal>;
export type TotalsJson = Record<TotalKey, string>;

export function zeroTotals(): Totals {
  return totalsOf(() => new Money(0));
}

export function totalsOf(f: (key: TotalKey) => Decimal): Totals {
  const out = {} as Totals;
  for (const key of TOTAL_KEYS) out[key] = f(key);
  return out;
}

export function totalsFromStrings(json: TotalsJson): Totals {
  return totalsOf((key) => new Money(json[key]));
}

export function totalsToJson(totals: Totals): TotalsJson {
  const out = {} as TotalsJson;
  for (const key of TOTAL_KEYS) out[key] = formatAmount(totals[key]);
  return out;
}

/** What a fully credited credit-only run shows: everything is charges covered by credits. */
export function creditOnlyTotals(creditSum: Decimal): Totals {
  return totalsOf((key) =>
    key === 'amount' || key === 'chargesTotal' || key === 'creditsTotal' ? creditSum : new Money(0),
  );
}
