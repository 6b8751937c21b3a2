import { expect } from 'chai';
import pino from 'pino';
import * as createCharge from '../../jobs/create-charge';
import { createKnex } from '../../src/db/knex';
import { describeChanges, movedTotals, summarize } from '../../src/domain/journal';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, totals } from '../helpers/fixtures';

describe('effect journal: changes from the effects', () => {
  const db = useTestDatabase('journal_counters');

  it('records the changes of each job alone: jobs back to back on one connection do not add up', async () => {
    const knex = createKnex({ databaseUrl: db().url, poolMax: 1 });
    try {
      const env = (jobId: string) => ({ knex, logger: pino({ level: 'silent' }), job: null, jobId });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const p = chargePayload({ settlementMode: 'invoice_only' });
        ids.push(p.id);
        await applyJob(createCharge, p, env(`same-connection-${i}`));
      }
      const rows = await knex('flat_fee_job_journal').whereIn('charge_id', ids).orderBy('id');
      for (const row of rows) {
        expect(row.changes).to.deep.equal({
          charge_flat_fees: { inserted: 1, updated: 1 },
          charge_flat_fee_runs: { inserted: 1 },
          charge_flat_fee_proration_receipts: { inserted: 1 },
        });
      }
      expect(rows).to.have.length(3);
    } finally {
      await knex.destroy();
    }
  });

  it('describes changes per table and kind', () => {
    expect(describeChanges({ charge_flat_fee_run_detailed_lines: { inserted: 2, deleted: 1 }, charge_flat_fees: { updated: 1 } })).to.equal('charges ~1, detailed_lines +2 -1');
    expect(describeChanges({})).to.equal('nothing');
  });

  it('reports moved totals by value, a missing run counting as zeros', () => {
    expect(movedTotals(totals({ total: '10.50' }), totals({ total: '10.5', creditsTotal: '3' }))).to.deep.equal([{ key: 'creditsTotal', from: '0', to: '3' }]);
    expect(movedTotals(null, totals({ amount: '7' }))).to.deep.equal([{ key: 'amount', from: '0', to: '7' }]);
    expect(movedTotals(totals(), null)).to.deep.equal([]);
    const line = summarize({
      queue: 'payment', jobId: '9', attempt: 2, idempotencyKey: 'k', payloadHash: 'h', namespace: 'n', chargeId: 'c', runId: null,
      outcome: 'rejected', errorCode: 'invoiced_usage_required', errorMessage: 'x', changes: {}, totalsBefore: null, totalsAfter: null,
      startedAt: new Date(0), finishedAt: new Date(0),
    });
    expect(line).to.equal('journal: rejected (invoiced_usage_required) attempt=2 key=k charge=c run=- changed: nothing; totals: -');
  });
});
