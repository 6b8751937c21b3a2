import { expect } from 'chai';
import { currencyPrecision, money, roundToCurrency } from '../../src/domain/money';
import { prorate } from '../../src/domain/proration';

const day = 24 * 3600 * 1000;
const start = new Date('2026-02-01T00:00:00Z');
const at = (days: number) => new Date(start.getTime() + days * day);

describe('money', () => {
  it('knows the minor unit of each currency', () => {
    expect([currencyPrecision('USD'), currencyPrecision('JPY'), currencyPrecision('BHD')]).to.deep.equal([2, 0, 3]);
  });

  it('rounds half away from zero', () => {
    expect(roundToCurrency(money('0.125'), 'USD').toFixed()).to.equal('0.13');
    expect(roundToCurrency(money('-0.125'), 'USD').toFixed()).to.equal('-0.13');
    expect(roundToCurrency(money('2.5'), 'JPY').toFixed()).to.equal('3');
    expect(roundToCurrency(money('0.1234'), 'USD').toFixed()).to.equal('0.12');
  });

  it('never goes through floats', () => {
    expect(money('0.1').plus('0.2').toFixed()).to.equal('0.3');
  });
});

describe('proration', () => {
  const input = (service: number, full: number, enabled = true, mode: 'prorate_prices' | 'no_prorate' = 'prorate_prices') => ({
    currency: 'USD',
    amountBeforeProration: money('100'),
    servicePeriod: { from: start, to: at(service) },
    fullServicePeriod: { from: start, to: at(full) },
    proRating: { enabled, mode },
  });

  it('prorates $100 over 15 of 29 days to 51.72', () => {
    const p = prorate(input(15, 29));
    expect(p.amountAfterProration.toFixed()).to.equal('51.72');
    expect(p.notProratedBecause).to.equal(null);
  });

  it('leaves the amount unchanged when disabled, no_prorate, a full period or a zero-length period', () => {
    expect(prorate(input(15, 29, false))).to.deep.include({ notProratedBecause: 'disabled' });
    expect(prorate(input(15, 29, true, 'no_prorate'))).to.deep.include({ notProratedBecause: 'no_prorate' });
    expect(prorate(input(29, 29))).to.deep.include({ notProratedBecause: 'full_period' });
    expect(prorate(input(0, 29))).to.deep.include({ notProratedBecause: 'zero_length_period' });
    for (const p of [prorate(input(15, 29, false)), prorate(input(29, 29)), prorate(input(0, 29))]) {
      expect(p.amountAfterProration.toFixed()).to.equal('100');
    }
  });

  it('rounds to the currency: JPY has no decimals', () => {
    const p = prorate({ ...input(15, 29), currency: 'JPY', amountBeforeProration: money('1000') });
    expect(p.amountAfterProration.toFixed()).to.equal('517');
  });
});
