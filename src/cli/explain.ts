import { Command, CommanderError } from 'commander';
import Decimal from 'decimal.js';
import { Knex } from 'knex';
import { withApp } from '../app';
import { findCharge } from '../db/charges';
import { listReceipts, StoredReceipt } from '../db/receipts';
import { Charge } from '../domain/charge';
import { prorate } from '../domain/proration';
import { compareReceipts, fieldText, ProrationReceipt, ReceiptDifference } from '../domain/receipt';
import { table, toPlainJson } from './render';

export interface Explanation {
  namespace: string;
  chargeId: string;
  amountAfterProration: Decimal;
  /** false for charges created before receipts existed: the inputs are then read from the charge row. */
  receiptStored: boolean;
  stored: ProrationReceipt | null;
  recomputed: ProrationReceipt;
  differences: ReceiptDifference[];
  matches: boolean;
  /** Receipts the charge's amount had before its latest (re-proration), oldest first: each priced a run now prior. */
  earlier: StoredReceipt[];
}

/** The pro-rating input: the receipt keeps it as given; the charge row only keeps its effect. */
function proRatingOf(charge: Charge, stored: ProrationReceipt | null): ProrationReceipt['proRating'] {
  return stored?.proRating ?? { enabled: charge.proRating === 'prorate_prices', mode: charge.proRating };
}

/** Recomputes the charge's amount from its stored inputs with the current code and compares. */
export async function explainCharge(knex: Knex, namespace: string, chargeId: string): Promise<Explanation | null> {
  const charge = await findCharge(knex, namespace, chargeId);
  if (!charge) return null;
  const receipts = await listReceipts(knex, namespace, chargeId);
  const stored = receipts.at(-1) ?? null;
  const { receipt: recomputed } = prorate({
    currency: charge.currency,
    amountBeforeProration: stored?.amountBeforeProration ?? charge.amountBeforeProration,
    servicePeriod: charge.servicePeriod,
    fullServicePeriod: charge.fullServicePeriod,
    proRating: proRatingOf(charge, stored),
  });
  const differences = stored ? compareReceipts(stored, recomputed) : [];
  if (!charge.amountAfterProration.eq(recomputed.roundedAmount)) {
    differences.push({ field: 'amountAfterProration', stored: charge.amountAfterProration.toFixed(), recomputed: recomputed.roundedAmount.toFixed() });
  }
  return { namespace, chargeId, amountAfterProration: charge.amountAfterProration, receiptStored: stored !== null, stored, recomputed, differences, matches: differences.length === 0, earlier: receipts.slice(0, -1) };
}

const ROWS: Array<[keyof ProrationReceipt, string]> = [
  ['servicePeriodMs', 'service period (ms)'],
  ['fullServicePeriodMs', 'full service period (ms)'],
  ['ratio', 'ratio service/full'],
  ['unroundedAmount', 'unrounded amount'],
  ['currencyPrecision', 'currency precision'],
  ['roundingMode', 'rounding mode'],
  ['roundedAmount', 'rounded amount'],
  ['roundingDelta', 'rounding delta'],
  ['notProratedBecause', 'not prorated because'],
];

/** One sentence a billing team can read: how the amount came about. */
export function howItWasComputed(r: ProrationReceipt): string {
  const rounding = `rounded ${r.roundingMode.replace(/_/g, ' ')} to ${r.currencyPrecision} decimals (${r.currency})`;
  const delta = `rounding delta ${r.roundingDelta.toFixed()}`;
  if (r.notProratedBecause) {
    return `not prorated (${r.notProratedBecause}): ${r.amountBeforeProration.toFixed()} ${rounding} = ${r.roundedAmount.toFixed()}; ${delta}`;
  }
  return `${r.amountBeforeProration.toFixed()} × ${r.ratio} = ${r.unroundedAmount.toFixed()}, ${rounding} = ${r.roundedAmount.toFixed()}; ${delta}`;
}

export function renderExplanation(e: Explanation): string {
  const differs = new Set(e.differences.map((d) => d.field));
  const flag = (field: string) => (differs.has(field as ReceiptDifference['field']) ? 'DIFFERS' : '');
  const rows = ROWS.map(([field, label]) => [label, e.stored ? fieldText(e.stored[field]) : '-', fieldText(e.recomputed[field]), flag(field)]);
  rows.push(['charge amount after proration', e.amountAfterProration.toFixed(), e.recomputed.roundedAmount.toFixed(), flag('amountAfterProration')]);
  const source = e.receiptStored ? 'stored receipt' : 'no stored receipt (charge predates receipts): inputs read from the charge';
  const verdict = e.matches ? 'result: stored and recomputed agree' : `result: ${e.differences.length} DIFFERENCE(S) between stored and recomputed`;
  const r = e.stored ?? e.recomputed;
  const inputs = `inputs: ${r.amountBeforeProration.toFixed()} ${r.currency}, pro-rating ${r.proRating.enabled ? 'enabled' : 'disabled'} (${r.proRating.mode})`;
  return [
    `charge ${e.chargeId} (${e.namespace}): ${source}`,
    inputs,
    `stored:     ${e.stored ? howItWasComputed(e.stored) : '-'}`,
    `recomputed: ${howItWasComputed(e.recomputed)}`,
    '',
    table([['field', 'stored', 'recomputed', ''], ...rows]).trimEnd(),
    '',
    verdict,
    ...e.earlier.map((x) => `re-prorated from run ${x.runId ?? '-'} (${x.createdAt.toISOString()}): ${howItWasComputed(x)}`),
    '',
  ].join('\n');
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("recompute a charge's prorated amount from its stored inputs with the current code; exit 3 when it differs")
    .argument('<namespace>')
    .argument('<chargeId>')
    .option('--json', 'print JSON')
    .action(async (namespace: string, chargeId: string, opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const explanation = await explainCharge(app.knex, namespace, chargeId);
        if (!explanation) throw new CommanderError(1, 'flatfee.not_found', `charge not found [namespace=${namespace} charge_id=${chargeId}]`);
        process.stdout.write(opts.json ? `${JSON.stringify(toPlainJson(explanation), null, 2)}\n` : renderExplanation(explanation));
        if (!explanation.matches) {
          throw new CommanderError(3, 'flatfee.explain_differs', `recomputed proration differs from the stored one in: ${explanation.differences.map((d) => d.field).join(', ')}`);
        }
      });
    });
}
