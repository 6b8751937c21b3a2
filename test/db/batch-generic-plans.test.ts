import { expect } from 'chai';
import type { Knex } from 'knex';
import { realizationsOfCurrentRuns, runTotalsUpdate } from '../../src/db/batch-allocate';
import { chargeStatusUpdate, lockChargesWithRuns, lockedOf, Scoped } from '../../src/db/batch-charges';
import { loadStoredKeys, storedOf } from '../../src/db/batch-idempotency';
import { writeTogether } from '../../src/db/batch-sql';
import { BatchTransaction, inBatchTransaction } from '../../src/db/batch-transaction';
import { createKnex } from '../../src/db/knex';
import { isStalePreparedStatement, isTransientFault } from '../../src/db/pg-errors';
import { applyBatch } from '../../src/engine/batch-apply';
import { JobDefinition } from '../../src/engine/job-context';
import * as allocateCredit from '../../jobs/allocate-credit';
import pino from 'pino';
import { TestDatabase, useTestDatabase } from '../helpers/db';
import { allocation, NS } from '../helpers/fixtures';
import { cloneCharge } from '../helpers/clone-charges';
import { createCharge } from '../helpers/seed';

// A batch statement is planned once per connection and keeps that generic plan (batch-transaction.ts).
// On a fresh deployment that plan is made while the tables are empty, and it must still probe an index
// per row once they hold thousands: a plan that walks a whole index and filters the batch's keys out of
// it costs more with every row stored. One connection plans every read and write on one charge, the
// tables then grow, and the same statements run again on that connection for 50 charges.

const GROWN = 2000;
const TABLES = ['charge_flat_fees', 'charge_flat_fee_runs', 'charge_flat_fee_run_credit_allocations', 'flat_fee_idempotency_keys'] as const;

/** Sequential scans, and rows fetched through an index, of this transaction. */
async function scans(trx: BatchTransaction): Promise<Record<string, { seq: number; fetched: number }>> {
  const [rows] = await trx.read([{ sql: 'SELECT relname, seq_scan, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = ANY(?::text[])', bindings: [[...TABLES]] }]);
  return Object.fromEntries(rows.map((r) => [r.relname as string, { seq: Number(r.seq_scan), fetched: Number(r.idx_tup_fetch ?? 0) }]));
}

/** Every read of an allocate batch and the writes that touch existing rows, for the given charges. */
async function batchOn(knex: Knex, charges: Scoped[], keys: string[]) {
  return inBatchTransaction(knex, async (trx) => {
    const before = await scans(trx);
    const [chargeRows, runRows, realizationRows, keyRows] = await trx.read([
      ...lockChargesWithRuns(charges),
      realizationsOfCurrentRuns(charges),
      loadStoredKeys(keys.map((key) => ({ queue: 'allocate-credit', namespace: NS, key }))),
    ]);
    const locked = [...lockedOf(chargeRows, runRows).values()];
    const now = new Date();
    const write = writeTogether([
      chargeStatusUpdate(locked.map((l) => ({ charge: l.charge, status: l.charge.status, now }))),
      runTotalsUpdate(locked.map((l) => ({ run: l.run!, totals: l.run!.totals, now }))),
    ]);
    await trx.read([write!]);
    const after = await scans(trx);
    await trx.commit(null);
    const delta = Object.fromEntries(TABLES.map((t) => [t, { seq: after[t].seq - before[t].seq, fetched: after[t].fetched - before[t].fetched }]));
    return { delta, locked: locked.length, runs: runRows.length, realizations: realizationRows.length, stored: storedOf(keyRows).size };
  });
}

/** A database for the file's describe, and a pool of one connection to it: every batch meets the plans the last one left. */
function useOneConnection(label: string): { db: () => TestDatabase; one: () => Knex } {
  const db = useTestDatabase(label);
  let one: Knex | null = null;
  before(() => {
    one = createKnex({ databaseUrl: db().url, poolMax: 1 });
  });
  after(async () => {
    await one?.destroy();
  });
  return { db, one: () => one! };
}

describe('batch statements keep a good generic plan as their tables grow from empty', function () {
  this.timeout(60000);
  const { db, one } = useOneConnection('batch_generic_plans');

  it('reads and updates only the batch\'s rows through the indexes after the tables grew a thousandfold under the plan', async () => {
    const { chargeId, runId } = await createCharge(db().knex, { settlementMode: 'credit_then_invoice' });
    await db().knex.raw('ANALYZE');
    const first = await batchOn(one(), [{ namespace: NS, id: chargeId }], ['k-0']);
    expect(first).to.include({ locked: 1, runs: 1, realizations: 0, stored: 0 });

    const copies = await cloneCharge(db().knex, { chargeId, runId: runId! }, GROWN);
    await db().knex.raw(
      `INSERT INTO flat_fee_idempotency_keys (queue, namespace, key, payload_hash, result)
       SELECT 'allocate-credit', ?, 'k-' || g, repeat('a', 64), '{}'::jsonb FROM generate_series(1, ?) g`,
      [NS, GROWN],
    );
    await db().knex.raw(
      `INSERT INTO charge_flat_fee_run_credit_allocations (id, namespace, run_id, created_at, updated_at, service_period_from, service_period_to, transaction_group_id, amount, type, sort_hint)
       SELECT substr(md5(r.id), 1, 26), r.namespace, r.id, now(), now(), now(), now(), 'tg', 1, 'allocation', 0 FROM charge_flat_fee_runs r`,
    );

    const wanted = copies.slice(1000, 1050).map((c) => ({ namespace: NS, id: c.chargeId }));
    const keys = Array.from({ length: 50 }, (_, i) => `k-${1000 + i}`);
    const grown = await batchOn(one(), wanted, keys);
    expect(grown).to.include({ locked: 50, runs: 50, realizations: 50, stored: 50 });
    // A plan that walks a whole index fetches every row of the grown table instead of the batch's 50.
    expect(grown.delta).to.deep.equal({
      // the lock, the runs' and the realizations' reads, and the status update
      charge_flat_fees: { seq: 0, fetched: 4 * 50 },
      // the runs read and the totals update
      charge_flat_fee_runs: { seq: 0, fetched: 2 * 50 },
      charge_flat_fee_run_credit_allocations: { seq: 0, fetched: 50 },
      flat_fee_idempotency_keys: { seq: 0, fetched: 50 },
    });
  });
});

describe('batch statements prepared before a migration changes a table', function () {
  this.timeout(60000);
  const { db, one } = useOneConnection('batch_prepared_ddl');

  it('a column added while the worker runs: the batch that meets it is a transient fault, and the connection prepares its statements anew', async () => {
    const { chargeId } = await createCharge(db().knex, { settlementMode: 'credit_then_invoice' });
    const charges = [{ namespace: NS, id: chargeId }];
    expect(await batchOn(one(), charges, ['ddl-0'])).to.include({ locked: 1, runs: 1 });
    // A rolling deploy: the new version's migration adds a column; this process keeps running.
    await db().knex.raw('ALTER TABLE charge_flat_fees ADD COLUMN ddl_probe integer');
    const met = await batchOn(one(), charges, ['ddl-1']).then(() => null, (e: unknown) => e);
    expect(isStalePreparedStatement(met), String(met)).to.equal(true);
    expect(isTransientFault(met)).to.equal(true);
    expect(await batchOn(one(), charges, ['ddl-2'])).to.include({ locked: 1, runs: 1 });
  });

  it('through the engine, the job applies at once: the batch is redone on the connection that forgot its statements', async () => {
    const { chargeId } = await createCharge(db().knex, { settlementMode: 'credit_then_invoice', amountBeforeProration: '100' });
    await db().knex('charge_flat_fees').where({ id: chargeId }).update({ status: 'active' });
    const env = { knex: one(), logger: pino({ level: 'silent' }) };
    const job = (key: string) => ({ data: { namespace: NS, chargeId, idempotencyKey: key, realizations: [allocation('10')] }, jobId: key, job: null, resumedAfterDelay: false, startedAt: new Date() });
    const [first] = await applyBatch(allocateCredit as unknown as JobDefinition, [job('engine-ddl-0')], env);
    expect(first.ok, JSON.stringify(first)).to.equal(true);
    await db().knex.raw('ALTER TABLE charge_flat_fee_runs ADD COLUMN ddl_probe_2 integer');
    const [second] = await applyBatch(allocateCredit as unknown as JobDefinition, [job('engine-ddl-1')], env);
    expect(second.ok, JSON.stringify(second)).to.equal(true);
    const amounts = await db().knex('charge_flat_fee_run_credit_allocations').where({ namespace: NS }).orderBy('created_at').pluck('amount');
    expect(amounts).to.deep.equal(['10', '10']);
  });
});
