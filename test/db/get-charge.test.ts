import { expect } from 'chai';
import { ulid } from 'ulid';
import { createCharge } from '../helpers/seed';
import { getCharge } from '../../src/db/read-charge';
import { useTestDatabase } from '../helpers/db';
import { NS } from '../helpers/fixtures';

describe('getCharge', () => {
  const db = useTestDatabase('get_charge');

  it('returns null for an unknown charge and the bare charge without expands', async () => {
    expect(await getCharge(db().knex, NS, ulid())).to.equal(null);
    const { chargeId } = await createCharge(db().knex, { settlementMode: 'invoice_only' });
    const charge = await getCharge(db().knex, NS, chargeId);
    expect(charge).to.deep.include({ id: chargeId, status: 'active' });
    expect(charge).to.not.have.property('realizations');
  });

  it('splits runs into the current run and prior runs by the pointer', async () => {
    const knex = db().knex;
    const { chargeId, runId } = await createCharge(knex, { settlementMode: 'invoice_only' });
    const prior = { ...(await knex('charge_flat_fee_runs').where({ id: runId }).first()), id: ulid(), line_id: null };
    prior.service_period_to = new Date('2025-12-01T00:00:00Z');
    await knex('charge_flat_fee_runs').insert(prior);
    const view = await getCharge(knex, NS, chargeId, { expand: ['realizations'] });
    expect(view!.realizations!.currentRun!.id).to.equal(runId);
    expect(view!.realizations!.priorRuns.map((r) => r.id)).to.deep.equal([prior.id]);
    expect(view!.realizations!.currentRun!.totals.total.toFixed()).to.equal('0');
  });

  it('has currentRun null when the charge points at no run', async () => {
    const { chargeId } = await createCharge(db().knex, { settlementMode: 'credit_only' });
    const view = await getCharge(db().knex, NS, chargeId, { expand: ['realizations'] });
    expect(view!.realizations).to.deep.equal({ currentRun: null, priorRuns: [] });
  });

  it('fails with current_realization_run_not_loaded when the pointer names a missing run', async () => {
    const knex = db().knex;
    const { chargeId } = await createCharge(knex, { settlementMode: 'credit_only' });
    const missing = ulid();
    // The foreign key forbids this state; only corrupt data (replication off) can produce it.
    await knex.transaction(async (trx) => {
      await trx.raw('SET LOCAL session_replication_role = replica');
      await trx('charge_flat_fees').where({ id: chargeId }).update({ current_realization_run_id: missing });
    });
    await expect(getCharge(knex, NS, chargeId, { expand: ['realizations'] })).to.be.rejectedWith(
      `current_realization_run_not_loaded: current realization run [id=${missing}] not loaded for flat fee charge [id=${chargeId}]`,
    );
  });
});
