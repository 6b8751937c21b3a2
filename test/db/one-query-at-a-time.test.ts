import { expect } from 'chai';
import { checkAllMigrated } from '../../src/db/legacy-migration-verify';
import { seedLegacy } from '../../src/db/legacy-migration-seed';
import { getCharge } from '../../src/db/read-charge';
import { useTestDatabase } from '../helpers/db';
import { NS } from '../helpers/fixtures';
import { overlappingQueries } from '../helpers/query-overlap';
import { createCharge } from '../helpers/seed';

// The board reads a charge in one snapshot transaction and the drop of the legacy tables checks the
// migration inside its own: a transaction is one connection, so their reads go one after another.

describe('reads inside a transaction send one query at a time', () => {
  const db = useTestDatabase('one_query');

  it('getCharge with every expand, inside a transaction', async () => {
    const { chargeId, runId } = await createCharge(db().knex, { settlementMode: 'invoice_only' });
    let view: Awaited<ReturnType<typeof getCharge>> = null;
    const overlaps = await overlappingQueries(() =>
      db().knex.transaction(async (trx) => (view = await getCharge(trx, NS, chargeId, { expand: ['realizations', 'detailedLines'] }))),
    );
    expect(overlaps).to.equal(0);
    expect(view!.realizations!.currentRun!.id).to.equal(runId);
    expect(view!.realizations!.currentRun!.creditRealizations).to.deep.equal([]);
    expect(view!.realizations!.currentRun!.detailedLines).to.deep.equal([]);
  });

  it('checkAllMigrated, inside a transaction', async () => {
    const seeded = await seedLegacy(db().knex, { charges: 20, namespaces: ['ns-one-query'], seed: 7 });
    let remaining = -1;
    const overlaps = await overlappingQueries(() =>
      db().knex.transaction(async (trx) => (remaining = (await checkAllMigrated(trx, { namespace: 'ns-one-query' })).remainingCharges)),
    );
    expect(overlaps).to.equal(0);
    expect(remaining).to.equal(seeded.charges);
  });
});
