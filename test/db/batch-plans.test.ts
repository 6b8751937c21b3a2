import { expect } from 'chai';
import { ulid } from 'ulid';
import { realizationsOf, realizationsOfCurrentRuns } from '../../src/db/batch-allocate';
import { lockChargesWithRuns, lockedOf } from '../../src/db/batch-charges';
import { paymentsOf, paymentsOfCurrentRuns, usagesOf, usagesOfCurrentRuns } from '../../src/db/batch-payment';
import { lineOwners, lineOwnersOf, liveLinesOf, liveLinesOfCurrentRuns } from '../../src/db/batch-usage';
import { journalInsert } from '../../src/db/batch-journal';
import { writeTogether } from '../../src/db/batch-sql';
import { BatchTransaction, inBatchTransaction } from '../../src/db/batch-transaction';
import { useTestDatabase } from '../helpers/db';
import { NS } from '../helpers/fixtures';
import { cloneCharge } from '../helpers/clone-charges';
import { createCharge } from '../helpers/seed';

// The batch statements run on tables whose statistics may predate their rows (a fresh deployment,
// before autovacuum's ANALYZE): each must still probe an index per row, not scan the whole table per
// batch. pg_stat_xact_user_tables counts the current transaction's scans, plus earlier ones of the
// same connection not yet flushed to the shared statistics: only a difference of two readings counts.

const RUNS = 2000;

async function scans(trx: BatchTransaction, table: string): Promise<{ seq: number; idx: number }> {
  const [[row]] = await trx.read([{ sql: 'SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = ?', bindings: [table] }]);
  return { seq: Number(row.seq_scan), idx: Number(row.idx_scan ?? 0) };
}

describe('batch statements on tables whose statistics are older than their rows', function () {
  this.timeout(60000);
  const db = useTestDatabase('batch_plans');
  let runIds: string[] = [];
  let chargeIds: string[] = [];

  before(async () => {
    const knex = db().knex;
    const { chargeId, runId } = await createCharge(knex, { settlementMode: 'credit_then_invoice' });
    const copies = await cloneCharge(knex, { chargeId, runId: runId! }, RUNS - 1);
    chargeIds = [chargeId, ...copies.map((c) => c.chargeId)];
    runIds = [runId!, ...copies.map((c) => c.runId)];
    // Statistics now say "no realizations"; then every run gets two.
    await knex.raw('ANALYZE charge_flat_fee_run_credit_allocations');
    await knex.raw(
      `INSERT INTO charge_flat_fee_run_credit_allocations (id, namespace, run_id, created_at, updated_at, service_period_from, service_period_to, transaction_group_id, amount, type, sort_hint)
       SELECT substr(md5(r.id || g), 1, 26), r.namespace, r.id, now() + g * interval '1 ms', now(), now(), now(), 'tg-' || g, g, 'allocation', 0
         FROM charge_flat_fee_runs r, generate_series(1, 2) g`,
    );
  });

  it('locks 50 charges and loads their current runs\' realizations with index probes: no sequential scan, exactly their rows', async () => {
    const wanted = chargeIds.slice(100, 150).map((id) => ({ namespace: NS, id }));
    const wantedRuns = runIds.slice(100, 150);
    await inBatchTransaction(db().knex, async (trx) => {
      const before = await scans(trx, 'charge_flat_fee_run_credit_allocations');
      const [locked, runs, loaded] = await trx.read([...lockChargesWithRuns(wanted), realizationsOfCurrentRuns(wanted)]);
      const after = await scans(trx, 'charge_flat_fee_run_credit_allocations');
      expect(after.seq - before.seq, 'sequential scans').to.equal(0);
      expect(after.idx - before.idx, 'index scans').to.equal(wanted.length);
      expect([...lockedOf(locked, runs).values()].map((l) => [l.charge.id, l.run?.id])).to.have.deep.members(wanted.map((w, i) => [w.id, wantedRuns[i]]));
      const byRun = realizationsOf(loaded);
      expect([...byRun.keys()]).to.have.members(wantedRuns);
      for (const id of wantedRuns) expect(byRun.get(id)!.map((r) => [r.runId, r.amount.toFixed()])).to.deep.equal([[id, '1'], [id, '2']]);
      await trx.commit(null);
    });
  });

  it('finds the runs that own a batch\'s lines through the unique line index, not a scan', async () => {
    const knex = db().knex;
    const lines = runIds.slice(400, 450).map(() => ulid());
    // Statistics say no run has a line yet; then 2,000 runs get one.
    await knex.raw('ANALYZE charge_flat_fee_runs');
    await knex('charge_flat_fee_runs').update({ line_id: knex.raw(`'L' || substr(id, 2)`) });
    const owned = runIds.slice(400, 425).map((id) => `L${id.slice(1)}`);
    await inBatchTransaction(knex, async (trx) => {
      const before = await scans(trx, 'charge_flat_fee_runs');
      const [rows] = await trx.read([lineOwners([...owned, ...lines.slice(25)])]);
      const after = await scans(trx, 'charge_flat_fee_runs');
      expect(after.seq - before.seq, 'sequential scans').to.equal(0);
      expect([...lineOwnersOf(rows).entries()]).to.have.deep.members(owned.map((line, i) => [line, runIds[400 + i]]));
      await trx.commit(null);
    });
  });

  it('names the current run of a replayed entry through the charges primary key, not a scan', async () => {
    const knex = db().knex;
    const chargeId = chargeIds[7];
    const key = `replay-${ulid()}`;
    await knex.raw('ANALYZE charge_flat_fees');
    await inBatchTransaction(knex, async (trx) => {
      const before = await scans(trx, 'charge_flat_fees');
      const now = new Date();
      await trx.read([writeTogether([
        journalInsert([
          {
            queue: 'allocate-credit', jobId: 'j1', attempt: 2, idempotencyKey: key, payloadHash: 'a'.repeat(64), namespace: NS, chargeId,
            runId: null, outcome: 'replayed', errorCode: null, errorMessage: null, changes: {}, totalsBefore: null, totalsAfter: null, startedAt: now, finishedAt: now,
          },
        ]),
      ])!]);
      const after = await scans(trx, 'charge_flat_fees');
      expect(after.seq - before.seq, 'sequential scans').to.equal(0);
      expect(after.idx - before.idx, 'index scans').to.equal(1);
      await trx.commit(null);
    });
    const row = await knex('flat_fee_job_journal').where({ idempotency_key: key }).first('run_id', 'outcome', 'charge_id');
    expect(row).to.deep.equal({ run_id: runIds[7], outcome: 'replayed', charge_id: chargeId });
  });

  it('reads the current runs\' usages, payments and detailed lines with one index probe per charge: no sequential scan, exactly their rows', async () => {
    const knex = db().knex;
    await knex.raw('ANALYZE charge_flat_fee_run_invoiced_usages, charge_flat_fee_run_payments, charge_flat_fee_run_detailed_lines');
    const totals = `0, 0, 0, 0, 0, 0, 0`;
    await knex.raw(
      `INSERT INTO charge_flat_fee_run_invoiced_usages (id, namespace, run_id, created_at, updated_at, service_period_from, service_period_to,
         amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total)
       SELECT substr(md5('u' || r.id), 1, 26), r.namespace, r.id, now(), now(), now(), now(), 7, ${totals} FROM charge_flat_fee_runs r`,
    );
    await knex.raw(
      `INSERT INTO charge_flat_fee_run_payments (id, namespace, run_id, line_id, invoice_id, created_at, updated_at, service_period_from, service_period_to,
         status, amount, authorized_transaction_group_id, authorized_at)
       SELECT substr(md5('p' || r.id), 1, 26), r.namespace, r.id, substr(md5('l' || r.id), 1, 26), r.id, now(), now(), now(), now(), 'authorized', 7, 'tg', now()
         FROM charge_flat_fee_runs r`,
    );
    // Per run: b (index 2) and a (index 1) live, z (index 0) soft-deleted.
    await knex.raw(
      `INSERT INTO charge_flat_fee_run_detailed_lines (id, namespace, run_id, created_at, updated_at, deleted_at, child_unique_reference_id, name, quantity, per_unit_amount,
         category, payment_term, service_period_start, service_period_end, "index",
         amount, charges_total, discounts_total, taxes_inclusive_total, taxes_exclusive_total, taxes_total, credits_total, total)
       SELECT substr(md5(l.ref || r.id), 1, 26), r.namespace, r.id, now(), now(), CASE WHEN l.ref = 'z' THEN now() END, l.ref, l.ref, 1, 1, 'regular', 'in_advance', now(), now(), l.idx, ${totals}, 0
         FROM charge_flat_fee_runs r, (VALUES ('b', 2), ('a', 1), ('z', 0)) AS l(ref, idx)`,
    );
    const wanted = chargeIds.slice(300, 350).map((id) => ({ namespace: NS, id }));
    const wantedRuns = runIds.slice(300, 350);
    await inBatchTransaction(knex, async (trx) => {
      const tables = ['charge_flat_fee_run_invoiced_usages', 'charge_flat_fee_run_payments', 'charge_flat_fee_run_detailed_lines'];
      const readings = async () => [await scans(trx, tables[0]), await scans(trx, tables[1]), await scans(trx, tables[2])];
      const before = await readings();
      const [usages, payments, lines] = await trx.read([usagesOfCurrentRuns(wanted), paymentsOfCurrentRuns(wanted), liveLinesOfCurrentRuns(wanted)]);
      const after = await readings();
      for (const [i, table] of tables.entries()) {
        expect(after[i].seq - before[i].seq, `${table} sequential scans`).to.equal(0);
        expect(after[i].idx - before[i].idx, `${table} index scans`).to.equal(wanted.length);
      }
      expect([...usagesOf(usages).entries()].map(([run, u]) => [run, u.runId, u.totals.amount.toFixed()])).to.have.deep.members(wantedRuns.map((r) => [r, r, '7']));
      const live = liveLinesOf(lines);
      expect([...live.keys()]).to.have.members(wantedRuns);
      for (const run of wantedRuns) expect(live.get(run)!.map((l) => [l.childUniqueReferenceId, l.index])).to.deep.equal([['a', 1], ['b', 2]]);
      expect([...paymentsOf(payments).entries()].map(([run, p]) => [run, p.runId, p.status])).to.have.deep.members(wantedRuns.map((r) => [r, r, 'authorized']));
      await trx.commit(null);
    });
  });
});
