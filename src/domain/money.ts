import Decimal from 'decimal.js';

/** All money arithmetic goes through this Decimal: enough precision for any sum, never a float. */
export const Money = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });
export type Money = Decimal;

const precisionCache = new Map<string, number>();
const knownCurrencies = new Set<string>(Intl.supportedValuesOf('currency'));

export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && knownCurrencies.has(code);
}

/** Digits of the currency's minor unit per ISO 4217 (USD 2, JPY 0, BHD 3), from ICU's data. */
export function currencyPrecision(currency: string): number {
  let digits = precisionCache.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits as number;
    precisionCache.set(currency, digits);
  }
  return digits;
}

export function money(value: Decimal.Value): Decimal {
  return new Money(value);
}

/** Rounds to the currency's minor unit, half away from zero (SPEC §1). */
export function roundToCurrency(amount: Decimal, currency: string): Decimal {
  return amount.toDecimalPlaces(currencyPrecision(currency), Decimal.ROUND_HALF_UP);
}

/** The canonical string stored in NUMERIC columns and sent in results: no exponent, no padding. */
export function formatAmount(amount: Decimal): string {
  return amount.toFixed();
}

export function sum(amounts: Decimal[]): Decimal {
  return amounts.reduce((acc, a) => acc.plus(a), new Money(0));
}

export const ZERO = new Money(0);
