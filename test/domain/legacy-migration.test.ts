import { expect } from 'chai';
import { addCounts, countsOf, mismatchError, NO_COUNTS, tableAgrees, TableCheck, verification } from '../../src/domain/legacy-migration';

const check = (table: TableCheck['table'], legacy: [number, string], migrated: [number, string]): TableCheck => ({
  table,
  legacy: { count: legacy[0], sum: legacy[1] },
  migrated: { count: migrated[0], sum: migrated[1] },
});

describe('legacy migration checks (pure)', () => {
  it('compares sums as decimals, not as text', () => {
    expect(tableAgrees(check('allocations', [2, '10.50'], [2, '10.5']))).to.equal(true);
    expect(tableAgrees(check('allocations', [2, '10.50'], [2, '10.51']))).to.equal(false);
    expect(tableAgrees(check('allocations', [2, '10.50'], [1, '10.50']))).to.equal(false);
  });

  it('fails a verification on any table or on charges left behind', () => {
    const good = [check('runs', [3, '300'], [3, '300']), check('payments', [1, '99'], [1, '99'])];
    expect(verification(good, 0).ok).to.equal(true);
    expect(verification(good, 1).ok).to.equal(false);
    expect(verification([...good, check('detailedLines', [4, '1'], [3, '1'])], 0).ok).to.equal(false);
  });

  it('names every table that disagrees, and the charges left, in one legacy_migration_mismatch', () => {
    const v = verification([check('runs', [3, '300'], [3, '300']), check('allocations', [2, '13.13'], [1, '0']), check('payments', [1, '5'], [1, '4.99'])], 2);
    const err = mismatchError('batch X', v);
    expect(err.code).to.equal('legacy_migration_mismatch');
    expect(err.retried).to.equal(false);
    expect(err.message).to.equal(
      'legacy_migration_mismatch: batch X: allocations: legacy 2 rows / 13.13 ≠ migrated 1 rows / 0; payments: legacy 1 rows / 5 ≠ migrated 1 rows / 4.99; 2 legacy charges still not migrated',
    );
  });

  it('counts what a batch wrote from its checks and adds batches up', () => {
    const counts = countsOf([check('runs', [3, '1'], [3, '1']), check('allocations', [5, '1'], [5, '1']), check('invoicedUsages', [1, '1'], [1, '1'])], 3);
    expect(counts).to.deep.equal({ charges: 3, runs: 3, allocations: 5, detailedLines: 0, invoicedUsages: 1, payments: 0 });
    expect(addCounts(counts, counts)).to.deep.equal({ charges: 6, runs: 6, allocations: 10, detailedLines: 0, invoicedUsages: 2, payments: 0 });
    expect(addCounts(NO_COUNTS, counts)).to.deep.equal(counts);
  });
});
