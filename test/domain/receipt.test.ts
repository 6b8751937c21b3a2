import { expect } from 'chai';
import { money } from '../../src/domain/money';
import { prorate, ProrationInput } from '../../src/domain/proration';
import { compareReceipts, exactRatio, ProrationReceipt } from '../../src/domain/receipt';
import { toPlainJson } from '../../src/cli/render';

const day = 24 * 3600 * 1000;
const start = new Date('2026-02-01T00:00:00Z');
const at = (days: number) => new Date(start.getTime() + days * day);

function input(overrides: Partial<ProrationInput> & { service?: number; full?: number } = {}): ProrationInput {
  const { service = 15, full = 29, ...rest } = overrides;
  return {
    currency: 'USD',
    amountBeforeProration: money('100'),
    servicePeriod: { from: start, to: at(service) },
    fullServicePeriod: { from: start, to: at(full) },
    proRating: { enabled: true, mode: 'prorate_prices' },
    ...rest,
  };
}

const receiptOf = (i: ProrationInput) => toPlainJson(prorate(i).receipt) as Record<string, unknown>;

describe('proration receipts', () => {
  it('records every step of USD 100 over 15 of 29 days: 51.72, delta recorded', () => {
    expect(receiptOf(input())).to.deep.equal({
      currency: 'USD',
      amountBeforeProration: '100',
      proRating: { enabled: true, mode: 'prorate_prices' },
      servicePeriodMs: 1296000000,
      fullServicePeriodMs: 2505600000,
      ratio: '15/29',
      unroundedAmount: '51.7241379310344827586206896551724137931',
      currencyPrecision: 2,
      roundingMode: 'half_away_from_zero',
      roundedAmount: '51.72',
      roundingDelta: '-0.0041379310344827586206896551724137931',
      notProratedBecause: null,
    });
  });

  it('rounds JPY to zero decimals, up when the remainder is past half', () => {
    expect(receiptOf(input({ currency: 'JPY', amountBeforeProration: money('1000') }))).to.deep.include({
      unroundedAmount: '517.241379310344827586206896551724137931',
      currencyPrecision: 0,
      roundedAmount: '517',
      roundingDelta: '-0.241379310344827586206896551724137931',
    });
    expect(receiptOf(input({ currency: 'JPY' }))).to.deep.include({ roundedAmount: '52', roundingDelta: '0.2758620689655172413793103448275862069' });
  });

  it('says why a charge was not prorated, with ratio 1/1 and the rounding still on record', () => {
    const cases: Array<[ProrationInput, string]> = [
      [input({ proRating: { enabled: false, mode: 'prorate_prices' } }), 'disabled'],
      [input({ proRating: { enabled: true, mode: 'no_prorate' } }), 'no_prorate'],
      [input({ service: 29 }), 'full_period'],
      [input({ service: 0 }), 'zero_length_period'],
      [input({ full: 0, service: 0 }), 'zero_length_period'],
    ];
    for (const [i, reason] of cases) {
      expect(receiptOf(i), reason).to.deep.include({ notProratedBecause: reason, ratio: '1/1', unroundedAmount: '100', roundedAmount: '100', roundingDelta: '0' });
    }
    // half away from zero on an unprorated amount with more decimals than the currency has
    expect(receiptOf(input({ amountBeforeProration: money('10.005'), proRating: { enabled: false, mode: 'no_prorate' } }))).to.deep.include({
      unroundedAmount: '10.005',
      roundedAmount: '10.01',
      roundingDelta: '0.005',
    });
  });

  it('reduces the ratio to lowest terms, exactly', () => {
    expect(exactRatio(15 * day, 29 * day)).to.equal('15/29');
    expect(exactRatio(10 * day, 30 * day)).to.equal('1/3');
    expect(exactRatio(1, 2505600000)).to.equal('1/2505600000');
  });

  it('compares stored and recomputed receipts by value, naming each differing field', () => {
    const stored = prorate(input()).receipt;
    expect(compareReceipts(stored, prorate(input()).receipt)).to.deep.equal([]);
    const padded: ProrationReceipt = { ...stored, roundedAmount: money('51.720') };
    expect(compareReceipts(padded, stored)).to.deep.equal([]);
    const older: ProrationReceipt = { ...stored, roundedAmount: money('51.73'), roundingDelta: money('0.0058620689655172413793103448275862069') };
    expect(compareReceipts(older, stored)).to.deep.equal([
      { field: 'roundedAmount', stored: '51.73', recomputed: '51.72' },
      { field: 'roundingDelta', stored: '0.0058620689655172413793103448275862069', recomputed: '-0.0041379310344827586206896551724137931' },
    ]);
  });
});
