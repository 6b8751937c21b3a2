import { expect } from 'chai';
import pino from 'pino';
import * as createCharge from '../../jobs/create-charge';
import { createKnex } from '../../src/db/knex';
import { EFFECT_TABLES, JOURNAL_TABLE } from '../../src/db/journal';
import { T } from '../../src/db/tables';
import { changesBetween, describeChanges, movedTotals, summarize } from '../../src/domain/journal';
import { runJob } from '../../src/queues/run-job';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, totals } from '../helpers/fixtures';

describe('effect journal: change counting', () => {
  const db = useTestDatabase('journal_counters');

  it('counts only this transaction: counters of earlier jobs on the same connection do not leak in', async () => {
    // PostgreSQL flushes a backend's counters to the shared statistics at most once a second, so
    // back-to-back jobs on one pooled connection see each other's counts unless the journal diffs.
    const knex = createKnex({ databaseUrl: db().url, poolMax: 1 });
    try {
      const env = (jobId: string) => ({ knex, logger: pino({ level: 'silent' }), job: null, jobId });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const p = chargePayload({ settlementMode: 'invoice_only' });
        ids.push(p.id);
        await runJob(createCharge, p, env(`same-connection-${i}`));
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

  it('reads the counters of every table of the migrated schema but the bookkeeping ones', async () => {
    // A table added by a migration and left out of EFFECT_TABLES would vanish from every entry's changes.
    const { rows } = await db().knex.raw(`SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')`);
    const bookkeeping = [JOURNAL_TABLE, T.idempotency, 'knex_migrations', 'knex_migrations_lock'];
    const schemaTables = (rows as Array<{ relname: string }>).map((r) => r.relname).filter((name) => !bookkeeping.includes(name));
    expect([...EFFECT_TABLES].sort()).to.deep.equal(schemaTables.sort());
    expect(EFFECT_TABLES).to.have.length(12);
  });

  it('diffs counters per table and kind, leaving out what did not move', () => {
    const before = new Map([
      ['a', { inserted: 5, updated: 1, deleted: 0 }],
      ['b', { inserted: 2, updated: 0, deleted: 0 }],
    ]);
    const after = new Map([
      ['a', { inserted: 6, updated: 3, deleted: 0 }],
      ['b', { inserted: 2, updated: 0, deleted: 0 }],
      ['c', { inserted: 0, updated: 0, deleted: 4 }],
    ]);
    expect(changesBetween(before, after)).to.deep.equal({ a: { inserted: 1, updated: 2 }, c: { deleted: 4 } });
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
