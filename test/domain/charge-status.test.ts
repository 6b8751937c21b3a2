import { expect } from 'chai';
import { canTransition, initialStatus, transition } from '../../src/domain/charge';
import { DomainError } from '../../src/domain/errors';

describe('charge status machine', () => {
  it('starts credit_only charges created and invoice modes active', () => {
    expect(initialStatus('credit_only')).to.equal('created');
    expect(initialStatus('invoice_only')).to.equal('active');
    expect(initialStatus('credit_then_invoice')).to.equal('active');
  });

  it('goes created → active → final, and any live state to deleted', () => {
    expect(canTransition('created', 'active')).to.equal(true);
    expect(canTransition('active', 'final')).to.equal(true);
    expect(canTransition('final', 'deleted')).to.equal(true);
    expect(canTransition('created', 'final')).to.equal(false);
    expect(canTransition('final', 'active')).to.equal(false);
    expect(canTransition('deleted', 'active')).to.equal(false);
  });

  it('refuses a bad transition with a coded error', () => {
    expect(() => transition({ id: 'c1', status: 'final' }, 'active')).to.throw(DomainError, /^charge_not_active: .*c1/);
  });
});
