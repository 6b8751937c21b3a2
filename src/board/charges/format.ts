import { currencyPrecision, isCurrency, Money } from '../../domain/money';

// Display formats for the explorer. Amounts arrive as decimal strings and are formatted from those
// strings (Intl.NumberFormat formats a numeric string exactly), never through a JS number.

type StringFormat = (value: string) => Intl.NumberFormatPart[];
const formatters = new Map<string, StringFormat>();
// Intl refuses more than 20 fraction digits; longer fractions are spliced in from the Decimal below.
const INTL_MAX_FRACTION = 20;

function formatterFor(currency: string, fractionDigits: number): StringFormat {
  const key = `${currency}:${fractionDigits}`;
  let format = formatters.get(key);
  if (!format) {
    const minor = currencyPrecision(currency);
    const nf = new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency,
      minimumFractionDigits: minor,
      maximumFractionDigits: Math.min(INTL_MAX_FRACTION, Math.max(minor, fractionDigits)),
    });
    // ES2023 lets formatToParts() take a decimal string (formatted exactly); the ES2022 typings only know numbers.
    format = (nf.formatToParts as unknown as StringFormat).bind(nf);
    formatters.set(key, format);
  }
  return format;
}

/**
 * `"1234.5"` USD → `$1,234.50`, `"1200"` JPY → `¥1,200`. Digits beyond the minor unit are kept (an
 * unrounded proration amount shows all of them): the page never rounds what it shows.
 */
export function formatMoney(amount: string, currency: string): string {
  const value = new Money(amount);
  if (!isCurrency(currency)) return `${value.toFixed()} ${currency}`;
  const digits = value.decimalPlaces();
  const parts = formatterFor(currency, digits)(value.toFixed(Math.min(digits, INTL_MAX_FRACTION), Money.ROUND_DOWN));
  const fraction = value.abs().toFixed().split('.')[1] ?? '';
  return parts.map((p) => (p.type === 'fraction' && digits > INTL_MAX_FRACTION ? fraction : p.value)).join('');
}

/** ISO instant → `2026-01-01 00:00:00 UTC`; null → an en dash. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  return iso.replace('T', ' ').replace(/\.000Z$|Z$/, '').replace(/\.\d{3}$/, '') + ' UTC';
}

export function formatPeriod(period: { from: string; to: string }): string {
  return `${formatTime(period.from)} → ${formatTime(period.to)}`;
}

/** `credit_then_invoice` → `credit then invoice`. */
export function words(code: string): string {
  return code.replace(/_/g, ' ');
}

/** Milliseconds as days when whole (`31 days`), else as-is: proration inputs are whole-ms spans. */
export function formatSpan(ms: number): string {
  const day = 86_400_000;
  return ms % day === 0 ? `${ms / day} days (${ms} ms)` : `${ms} ms`;
}
