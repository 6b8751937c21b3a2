import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { explainCharge, renderExplanation } from '../../src/cli/explain';
import { toPlainJson } from '../../src/cli/render';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');
const FEBRUARY_15_OF_29 = {
  servicePeriod: { from: '2026-02-01T00:00:00Z', to: '2026-02-16T00:00:00Z' },
  fullServicePeriod: { from: '2026-02-01T00:00:00Z', to: '2026-03-02T00:00:00Z' },
};

describe('proration receipts stored by create-charge, and explain', () => {
  const db = useTestDatabase('journal_receipts');
  const h = useWorkerHarness('journal-receipts', () => db().knex);
  const receiptRow = (chargeId: string) => db().knex('charge_flat_fee_proration_receipts').where({ charge_id: chargeId }).first();
  const cli = (...args: string[]) =>
    promisify(execFile)('node', [BIN, ...args], { env: { ...process.env, DATABASE_URL: db().url, LOG_LEVEL: 'silent' } });

  async function create(overrides: Record<string, unknown>) {
    const p = chargePayload(overrides);
    expect((await h().run('create-charge', p)).state).to.equal('completed');
    return p.id;
  }

  it('stores the receipt of USD 100 over 15 of 29 days with the charge: 51.72, delta recorded', async () => {
    const id = await create(FEBRUARY_15_OF_29);
    const { created_at: _createdAt, ...row } = await receiptRow(id);
    const run = await db().knex('charge_flat_fee_runs').where({ charge_id: id }).first();
    expect(row).to.deep.equal({
      id,
      run_id: run?.id ?? null,
      charge_id: id,
      namespace: NS,
      currency: 'USD',
      amount_before_proration: '100',
      pro_rating_enabled: true,
      pro_rating_mode: 'prorate_prices',
      service_period_ms: '1296000000',
      full_service_period_ms: '2505600000',
      ratio: '15/29',
      unrounded_amount: '51.7241379310344827586206896551724137931',
      currency_precision: 2,
      rounding_mode: 'half_away_from_zero',
      rounded_amount: '51.72',
      rounding_delta: '-0.0041379310344827586206896551724137931',
      not_prorated_because: null,
    });
    expect((await db().knex('charge_flat_fees').where({ id }).first()).amount_after_proration).to.equal('51.72');
  });

  it('stores JPY with zero decimals', async () => {
    const id = await create({ ...FEBRUARY_15_OF_29, currency: 'JPY', amountBeforeProration: '1000' });
    expect(await receiptRow(id)).to.deep.include({ currency_precision: 0, ratio: '15/29', rounded_amount: '517', rounding_delta: '-0.241379310344827586206896551724137931' });
    expect((await db().knex('charge_flat_fees').where({ id }).first()).amount_after_proration).to.equal('517');
  });

  it('stores why a charge was not prorated', async () => {
    const id = await create({ ...FEBRUARY_15_OF_29, proRating: { enabled: false, mode: 'prorate_prices' } });
    expect(await receiptRow(id)).to.deep.include({ not_prorated_because: 'disabled', ratio: '1/1', pro_rating_enabled: false, unrounded_amount: '100', rounded_amount: '100', rounding_delta: '0' });
  });

  it('explains a prorated charge: recomputed with the current code, matching the stored receipt', async () => {
    const id = await create(FEBRUARY_15_OF_29);
    const explanation = (await explainCharge(db().knex, NS, id))!;
    expect(explanation).to.deep.include({ receiptStored: true, matches: true, differences: [] });
    const { id: receiptId, runId, chargeId, namespace, createdAt, ...stored } = toPlainJson(explanation.stored) as Record<string, unknown>;
    expect([receiptId, runId, chargeId, namespace, typeof createdAt]).to.deep.equal([id, null, id, NS, 'string']);
    expect(toPlainJson(explanation.recomputed)).to.deep.equal(stored);
    const text = renderExplanation(explanation).split('\n');
    const how = '100 × 15/29 = 51.7241379310344827586206896551724137931, rounded half away from zero to 2 decimals (USD) = 51.72; rounding delta -0.0041379310344827586206896551724137931';
    expect(text.slice(0, 4)).to.deep.equal([
      `charge ${id} (${NS}): stored receipt`,
      'inputs: 100 USD, pro-rating enabled (prorate_prices)',
      `stored:     ${how}`,
      `recomputed: ${how}`,
    ]);
    expect(text.find((l) => l.startsWith('rounded amount'))!.split(/\s{2,}/)).to.deep.equal(['rounded amount', '51.72', '51.72']);
    expect(text.find((l) => l.startsWith('charge amount after proration'))!.split(/\s{2,}/)).to.deep.equal(['charge amount after proration', '51.72', '51.72']);
    expect(text.at(-2)).to.equal('result: stored and recomputed agree');
  });

  it('flags a receipt that the current code no longer reproduces, and the CLI exits 3', async function () {
    this.timeout(20000);
    const id = await create(FEBRUARY_15_OF_29);
    // given a receipt written by (hypothetical) older code that rounded up
    await db().knex('charge_flat_fee_proration_receipts').where({ charge_id: id }).update({ rounded_amount: '51.73', rounding_delta: '0.0058620689655172413793103448275862069' });
    const explanation = (await explainCharge(db().knex, NS, id))!;
    expect(explanation.matches).to.equal(false);
    expect(explanation.differences.map((d) => [d.field, d.stored, d.recomputed])).to.deep.equal([
      ['roundedAmount', '51.73', '51.72'],
      ['roundingDelta', '0.0058620689655172413793103448275862069', '-0.0041379310344827586206896551724137931'],
    ]);
    const failed = await cli('explain', NS, id).then(() => null, (err) => err);
    expect(failed.code).to.equal(3);
    expect(failed.stdout).to.match(/\nrounded amount +51\.73 +51\.72 +DIFFERS\n/);
    expect(failed.stdout).to.include('result: 2 DIFFERENCE(S) between stored and recomputed');
    expect(failed.stderr).to.equal('error: recomputed proration differs from the stored one in: roundedAmount, roundingDelta\n');
  });

  it('prints the explanation as one JSON document', async function () {
    this.timeout(20000);
    const id = await create({ ...FEBRUARY_15_OF_29, currency: 'JPY', amountBeforeProration: '100' });
    const { stdout } = await cli('explain', NS, id, '--json');
    const printed = JSON.parse(stdout);
    expect(printed).to.deep.equal(toPlainJson(await explainCharge(db().knex, NS, id)));
    expect(printed).to.deep.include({ matches: true, amountAfterProration: '52', receiptStored: true });
    expect(printed.recomputed).to.deep.include({ ratio: '15/29', roundedAmount: '52', currencyPrecision: 0, roundingDelta: '0.2758620689655172413793103448275862069' });
  });

  it('explains a charge that predates receipts from the charge row alone', async () => {
    const id = await create(FEBRUARY_15_OF_29);
    await db().knex('charge_flat_fee_proration_receipts').where({ charge_id: id }).delete();
    const explanation = (await explainCharge(db().knex, NS, id))!;
    expect(explanation).to.deep.include({ receiptStored: false, stored: null, matches: true });
    expect(explanation.recomputed.roundedAmount.toFixed()).to.equal('51.72');
    expect(renderExplanation(explanation)).to.include('no stored receipt (charge predates receipts)');
  });
});
