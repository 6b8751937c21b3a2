import Decimal from 'decimal.js';
import { ChargeView, RunView } from '../db/read-charge';
import { TOTAL_KEYS } from '../domain/totals';
import { CommanderError } from 'commander';
import { isCurrency } from '../domain/money';

/** Plain JSON for output: Decimals as fixed-point strings (never exponents), Dates as ISO strings. */
export function toPlainJson(value: unknown): unknown {
  if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlainJson(v)]));
  }
  return value;
}

export function chargeJson(charge: ChargeView): unknown {
  return toPlainJson(charge);
}

export function balanceJson(total: Decimal): { realizedCredits: string } {
  return { realizedCredits: total.toFixed() };
}

/** Cut to at most `max` characters, an ellipsis showing that something was cut. */
export function ellipsis(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A progress line: redrawn in place on a terminal, one line each when piped to a log. */
export function progressLine(text: string, tty: boolean): string {
  return tty ? `\r${text}` : `${text}\n`;
}

/** Currency codes are upper-case ISO-4217: `usd` means USD; anything else is refused, never answered 0. */
export function currencyArgument(raw: string): string {
  const code = raw.trim().toUpperCase();
  if (!isCurrency(code)) throw new CommanderError(2, 'flatfee.bad_currency', `"${raw}" is not an ISO-4217 currency code`);
  return code;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

function runBlock(title: string, run: RunView): string {
  const lines = [`${title} ${run.id}  type=${run.type}  line=${run.lineId ?? '-'}  invoice=${run.invoiceId ?? '-'}  noFiat=${run.noFiatTransactionRequired}`];
  lines.push(table([TOTAL_KEYS as unknown as string[], TOTAL_KEYS.map((k) => run.totals[k].toFixed())]).trimEnd());
  if (run.creditRealizations.length) {
    lines.push('credit realizations:');
    lines.push(
      table([
        ['id', 'type', 'amount', 'corrects', 'sort', 'deleted'],
        ...run.creditRealizations.map((r) => [r.id, r.type, r.amount.toFixed(), r.correctsRealizationId ?? '-', String(r.sortHint), r.deletedAt ? 'yes' : '']),
      ]).trimEnd(),
    );
  }
  if (run.invoicedUsage) lines.push(`invoiced usage ${run.invoicedUsage.id}: total ${run.invoicedUsage.totals.total.toFixed()}`);
  if (run.payment) lines.push(`payment ${run.payment.id}: ${run.payment.status} ${run.payment.amount.toFixed()}`);
  if (run.detailedLines?.length) {
    lines.push('detailed lines:');
    lines.push(
      table([
        ['child reference', 'name', 'quantity', 'per unit', 'total'],
        ...run.detailedLines.map((l) => [l.childUniqueReferenceId, l.name, l.quantity.toFixed(), l.perUnitAmount.toFixed(), l.totals.total.toFixed()]),
      ]).trimEnd(),
    );
  }
  return lines.join('\n');
}

/** A charge with its runs as readable text for a terminal. */
export function renderCharge(charge: ChargeView): string {
  const head = table([
    ['charge', 'status', 'mode', 'currency', 'amount', 'after proration', 'customer'],
    [charge.id, charge.status, charge.settlementMode, charge.currency, charge.amountBeforeProration.toFixed(), charge.amountAfterProration.toFixed(), charge.customerId],
  ]);
  const parts = [head];
  const current = charge.realizations?.currentRun;
  parts.push(current ? runBlock('current run', current) : 'current run: none');
  for (const prior of charge.realizations?.priorRuns ?? []) parts.push(runBlock('prior run', prior));
  return parts.join('\n') + '\n';
}
