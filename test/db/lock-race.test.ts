import { expect } from 'chai';
import pino from 'pino';
import * as allocateCredit from '../../jobs/allocate-credit';
import * as createCharge from '../../jobs/create-charge';
import { toDbRun } from '../../src/db/mapping';
import { fastUlid } from '../../src/domain/ids';
import { provisionRun } from '../../src/domain/run';
import { getCharge } from '../../src/db/read-charge';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS } from '../helpers/fixtures';

// A batch locks its charges, then reads their runs: a charge whose lock waited on a job that gave it a
// new run must come back with that run, not with a pointer to a run the batch cannot see.
describe('engine: a charge locked while another job provisions its run', () => {
  const db = useTestDatabase('lock_race');
  const env = (jobId: string) => ({ knex: db().knex, logger: pino({ level: 'silent' }), job: null, jobId });

  it('an allocation waiting on an activation sees the run the activation committed', async () => {
    // Given a credit_only charge without a run, and an activation holding its row lock, not yet committed
    const p = chargePayload({ settlementMode: 'credit_only', amountBeforeProration: '100' });
    await applyJob(createCharge, p, env(`create-${p.id}`));
    const charge = (await getCharge(db().knex, NS, p.id))!;
    const run = provisionRun(charge, fastUlid(), new Date());
    const activation = await db().knex.transaction();
    await activation('charge_flat_fees').where({ namespace: NS, id: p.id }).forUpdate().first();
    await activation('charge_flat_fee_runs').insert(toDbRun(run));
    await activation('charge_flat_fees').where({ namespace: NS, id: p.id }).update({ status: 'active', status_detailed: 'active', current_realization_run_id: run.id });

    // When an allocation arrives meanwhile: its batch waits on the charge's lock
    const allocated = applyJob(allocateCredit, { namespace: NS, chargeId: p.id, realizations: [allocation('100')] }, env(`allocate-${p.id}`));
    for (let waited = 0; ; waited += 20) {
      const { rows } = await db().knex.raw(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      if (rows[0].n > 0) break;
      if (waited > 5000) throw new Error('the allocation never waited on the charge lock');
      await new Promise((r) => setTimeout(r, 20));
    }
    await activation.commit();

    // Then it is applied on the new run, not refused with current_realization_run_not_loaded
    const result = await allocated;
    expect(result).to.deep.include({ chargeId: p.id, runId: run.id, status: 'final' });
    const realizations = await db().knex('charge_flat_fee_run_credit_allocations').where({ run_id: run.id }).pluck('amount');
    expect(realizations).to.deep.equal(['100']);
  });
});
