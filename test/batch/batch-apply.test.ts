import { expect } from 'chai';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS } from '../helpers/fixtures';
import * as allocateJob from '../../jobs/allocate-credit';
import { applyJob } from '../../src/engine/batch-runner';
import { isTransientFault } from '../../src/db/pg-errors';
import { allocate, apply, chargesWithRuns, codeOf, failNextAllocateCommits, item, silent } from './helpers';

describe('batched apply: many jobs, one transaction', () => {
  const db = useTestDatabase('batch_apply');
  const knex = () => db().knex;

  const realizationsOf = (chargeId: string) =>
    knex()('charge_flat_fee_run_credit_allocations as a')
      .join('charge_flat_fees as c', 'c.current_realization_run_id', 'a.run_id')
      .where('c.id', chargeId)
      .orderBy([{ column: 'a.created_at' }, { column: 'a.sort_hint' }])
      .select('a.*');
  const keysOf = (queue: string, keys: string[]) => knex()('flat_fee_idempotency_keys').where({ queue, namespace: NS }).whereIn('key', keys);

  it('applies 50 allocations on 50 charges with one effect each and stores every result', async () => {
    const charges = await chargesWithRuns(knex(), 50);
    const items = charges.map((id) => item(allocate(id, '12.50')));
    const outcomes = await apply(knex(), 'allocate-credit', items);
    expect(outcomes.map(codeOf)).to.deep.equal(charges.map(() => null));
    for (const [i, id] of charges.entries()) {
      const rows = await realizationsOf(id);
      expect(rows.map((r) => [r.amount, r.type, r.sort_hint])).to.deep.equal([['12.5', 'allocation', 0]]);
      expect(outcomes[i]).to.deep.include({ ok: true });
      expect((outcomes[i] as { result: Record<string, unknown> }).result).to.deep.include({ chargeId: id, realizationIds: [rows[0].id], status: 'active' });
    }
    const stored = await keysOf('allocate-credit', items.map((i) => i.jobId!));
    expect(stored).to.have.length(50);
    expect(stored.every((k) => k.result && k.result.realizationIds.length === 1)).to.equal(true);
  });

  it('one poisoned job among 50: 49 commit, the bad one fails alone with its code and leaves no key', async () => {
    const charges = await chargesWithRuns(knex(), 50);
    // Job 17 asks for more than its charge's 100: credit_allocations_exceed_total.
    const items = charges.map((id, i) => item(allocate(id, i === 17 ? '100.01' : '40')));
    const outcomes = await apply(knex(), 'allocate-credit', items);
    expect(outcomes.map(codeOf)).to.deep.equal(charges.map((_, i) => (i === 17 ? 'credit_allocations_exceed_total' : null)));
    expect(await realizationsOf(charges[17])).to.have.length(0);
    expect((await realizationsOf(charges[16])).map((r) => r.amount)).to.deep.equal(['40']);
    expect(await keysOf('allocate-credit', items.map((i) => i.jobId!))).to.have.length(49);
    expect(await keysOf('allocate-credit', [items[17].jobId!])).to.have.length(0);
  });

  it('a payload that fails validation among 50 fails with validation_failed, the rest commit', async () => {
    const charges = await chargesWithRuns(knex(), 50);
    const items = charges.map((id, i) => item(i === 3 ? { namespace: NS, chargeId: id, realizations: [{ ...allocation('1'), amount: 1 }] } : allocate(id, '1')));
    const outcomes = await apply(knex(), 'allocate-credit', items);
    expect(outcomes.map(codeOf)).to.deep.equal(charges.map((_, i) => (i === 3 ? 'validation_failed' : null)));
    expect(await realizationsOf(charges[3])).to.have.length(0);
  });

  it('replays inside a batch: a twin key and a key stored earlier answer with the first result and write nothing', async () => {
    const [a, b] = await chargesWithRuns(knex(), 2);
    const earlier = allocate(b, '5', { idempotencyKey: 'k-earlier' });
    const [first] = await apply(knex(), 'allocate-credit', [item(earlier)]);
    const twin = allocate(a, '7', { idempotencyKey: 'k-twin' });
    const outcomes = await apply(knex(), 'allocate-credit', [item(twin), item(earlier), item(twin), item(allocate(a, '3'))]);
    expect(outcomes.map(codeOf)).to.deep.equal([null, null, null, null]);
    const results = outcomes.map((o) => (o as { result: Record<string, unknown> }).result);
    expect(results[0].replayed).to.equal(undefined);
    expect(results[2]).to.deep.equal({ ...results[0], replayed: true });
    expect(results[1]).to.deep.equal({ ...(first as { result: Record<string, unknown> }).result, replayed: true });
    expect((await realizationsOf(a)).map((r) => r.amount)).to.deep.equal(['7', '3']);
    expect((await realizationsOf(b)).map((r) => r.amount)).to.deep.equal(['5']);
  });

  it('a key reused with another payload inside a batch fails with idempotency_key_conflict, alone', async () => {
    const [a] = await chargesWithRuns(knex(), 1);
    const outcomes = await apply(knex(), 'allocate-credit', [
      item(allocate(a, '7', { idempotencyKey: 'k-reused' })),
      item(allocate(a, '8', { idempotencyKey: 'k-reused' })),
      item(allocate(a, '9')),
    ]);
    expect(outcomes.map(codeOf)).to.deep.equal([null, 'idempotency_key_conflict', null]);
    expect((await realizationsOf(a)).map((r) => r.amount)).to.deep.equal(['7', '9']);
  });

  it('keeps per-charge order: 50 jobs on one charge apply in arrival order until the total is reached', async () => {
    const [id] = await chargesWithRuns(knex(), 1);
    const items = Array.from({ length: 50 }, () => item(allocate(id, '3')));
    const outcomes = await apply(knex(), 'allocate-credit', items);
    // 33 × 3 = 99 fits the 100 of the charge; the 34th and every later one would exceed it.
    expect(outcomes.map(codeOf)).to.deep.equal(items.map((_, i) => (i < 33 ? null : 'credit_allocations_exceed_total')));
    const rows = await realizationsOf(id);
    expect(rows).to.have.length(33);
    const ids = outcomes.slice(0, 33).map((o) => ((o as { result: Record<string, unknown> }).result.realizationIds as string[])[0]);
    expect(rows.map((r) => r.id)).to.deep.equal(ids);
    const times = rows.map((r) => r.created_at.getTime());
    expect(times.every((t, i) => i === 0 || t > times[i - 1])).to.equal(true);
  });

  it('finishes a credit_only charge in a batch: totals overwritten, charge final, a second allocation refused', async () => {
    const c = chargePayload();
    await apply(knex(), 'create-charge', [item(c)]);
    await apply(knex(), 'activate-charge', [item({ namespace: NS, chargeId: c.id })]);
    const outcomes = await apply(knex(), 'allocate-credit', [item(allocate(c.id, '100')), item(allocate(c.id, '100'))]);
    expect(outcomes.map(codeOf)).to.deep.equal([null, 'charge_not_active']);
    const charge = await knex()('charge_flat_fees').where({ id: c.id }).first();
    const run = await knex()('charge_flat_fee_runs').where({ id: charge.current_realization_run_id }).first();
    expect([charge.status, charge.status_detailed]).to.deep.equal(['final', 'final']);
    expect([run.amount, run.charges_total, run.credits_total, run.total, run.taxes_total]).to.deep.equal(['100', '100', '100', '0', '0']);
  });

  it('a duplicate charge id among 10 creations fails alone with charge_already_exists', async () => {
    const payloads = Array.from({ length: 10 }, () => chargePayload({ settlementMode: 'invoice_only' }));
    payloads[4] = { ...payloads[4], id: payloads[2].id };
    const outcomes = await apply(knex(), 'create-charge', payloads.map((p) => item(p)));
    expect(outcomes.map(codeOf)).to.deep.equal(payloads.map((_, i) => (i === 4 ? 'charge_already_exists' : null)));
    expect(await knex()('charge_flat_fees').whereIn('id', payloads.map((p) => p.id))).to.have.length(9);
    expect(await knex()('charge_flat_fee_runs').whereIn('charge_id', payloads.map((p) => p.id))).to.have.length(9);
  });

  it('a session terminated in every attempt fails the whole batch with that fault; nothing is written and the redo applies each job once', async () => {
    const payloads = Array.from({ length: 10 }, () => chargePayload({ settlementMode: 'invoice_only' }));
    const ids = payloads.map((p) => p.id as string);
    // The fifth charge in lock order terminates its own session from a trigger: jobs after it would meet a dead connection.
    const doomed = [...ids].sort()[4];
    await knex().raw(`CREATE OR REPLACE FUNCTION batch_session_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$`);
    await knex().raw(`CREATE TRIGGER batch_session_fault BEFORE INSERT ON charge_flat_fees FOR EACH ROW WHEN (NEW.id = '${doomed}') EXECUTE FUNCTION batch_session_fault()`); // DDL takes no parameters; a ULID needs no quoting
    let failed;
    try {
      failed = await apply(knex(), 'create-charge', payloads.map((p) => item(p)));
    } finally {
      await knex().raw(`DROP TRIGGER IF EXISTS batch_session_fault ON charge_flat_fees`);
    }
    expect(failed.map((o) => (o.ok ? 'ok' : isTransientFault(o.error) ? 'transient' : String(o.error)))).to.deep.equal(ids.map(() => 'transient'));
    // The same fault each time: the batch was never split into jobs that would meet a dead connection one by one.
    expect(new Set(failed.map((o) => !o.ok && o.error)).size, 'distinct errors').to.equal(1);
    expect(await knex()('charge_flat_fees').whereIn('id', ids)).to.have.length(0);
    expect(await keysOf('create-charge', ids)).to.have.length(0);
    const redo = await apply(knex(), 'create-charge', payloads.map((p) => item(p)));
    expect(redo.map(codeOf)).to.deep.equal(ids.map(() => null));
    expect(await knex()('charge_flat_fee_runs').whereIn('charge_id', ids)).to.have.length(10);
  });

  it('a failed COMMIT is redone by the engine on a fresh connection: every job applied once, none sent back', async () => {
    const charges = await chargesWithRuns(knex(), 50);
    const items = charges.map((id) => item(allocate(id, '2')));
    const restore = await failNextAllocateCommits(knex(), 1);
    try {
      const outcomes = await apply(knex(), 'allocate-credit', items);
      expect(outcomes.map(codeOf)).to.deep.equal(items.map(() => null));
      expect(outcomes.every((o) => o.ok && o.result.replayed === undefined)).to.equal(true);
    } finally {
      await restore();
    }
    for (const id of charges) expect((await realizationsOf(id)).map((r) => r.amount)).to.deep.equal(['2']);
  });

  it('a COMMIT that keeps failing fails the whole batch with a retried fault and stores nothing; the redo applies each job once', async () => {
    const charges = await chargesWithRuns(knex(), 50);
    const items = charges.map((id) => item(allocate(id, '2')));
    const restore = await failNextAllocateCommits(knex(), 3);
    try {
      const failed = await apply(knex(), 'allocate-credit', items);
      expect(failed.map((o) => (o.ok ? 'ok' : (o.error as { code?: string }).code))).to.deep.equal(items.map(() => '40001'));
      expect(await keysOf('allocate-credit', items.map((i) => i.jobId!))).to.have.length(0);
      const redo = await apply(knex(), 'allocate-credit', items);
      expect(redo.map(codeOf)).to.deep.equal(items.map(() => null));
      const again = await apply(knex(), 'allocate-credit', items);
      expect(again.every((o) => o.ok && o.result.replayed === true)).to.equal(true);
    } finally {
      await restore();
    }
    for (const id of charges) expect((await realizationsOf(id)).map((r) => r.amount)).to.deep.equal(['2']);
  });

  it('journals every job of a batch as the per-job path does: applied, replayed and rejected entries', async () => {
    const [perJob, batched] = await chargesWithRuns(knex(), 2, { settlementMode: 'credit_only' });
    for (const id of [perJob, batched]) await apply(knex(), 'activate-charge', [item({ namespace: NS, chargeId: id })]);
    await applyJob(allocateJob, allocate(perJob, '100', { idempotencyKey: 'j-per-job' }), { knex: knex(), logger: silent, job: null, jobId: 'per-job' });
    const twice = allocate(batched, '100', { idempotencyKey: 'j-batched' });
    const outcomes = await apply(knex(), 'allocate-credit', [
      item(twice),
      item(twice),
      item(allocate(batched, '1')),
    ]);
    expect(outcomes.map(codeOf)).to.deep.equal([null, null, 'charge_not_active']);
    const journal = (chargeId: string) =>
      knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue: 'allocate-credit' }).orderBy('id').select('outcome', 'error_code', 'changes', 'totals_before', 'totals_after', 'run_id');
    const [reference] = await journal(perJob);
    const rows = await journal(batched);
    const runId = (await knex()('charge_flat_fees').where({ id: batched }).first()).current_realization_run_id;
    expect(rows.map((r) => [r.outcome, r.error_code, r.run_id])).to.deep.equal([
      ['applied', null, runId],
      ['replayed', null, runId],
      ['rejected', 'charge_not_active', runId],
    ]);
    expect(rows[0].changes).to.deep.equal(reference.changes);
    expect([rows[0].totals_before, rows[0].totals_after]).to.deep.equal([reference.totals_before, reference.totals_after]);
    expect([rows[1].changes, rows[1].totals_after]).to.deep.equal([{}, null]);
  });

  it('a job whose namespace holds a NUL fails validation alone, before any statement; the others commit', async () => {
    const [a, b] = await chargesWithRuns(knex(), 2);
    const outcomes = await apply(knex(), 'allocate-credit', [item(allocate(a, '1')), item({ ...allocate(b, '1'), namespace: 'ns\u0000x' }), item(allocate(b, '2'))]);
    expect(outcomes.map(codeOf)).to.deep.equal([null, 'validation_failed', null]);
    expect((await realizationsOf(b)).map((r) => r.amount)).to.deep.equal(['2']);
    const rejected = await knex()('flat_fee_job_journal').where({ queue: 'allocate-credit', outcome: 'rejected', charge_id: b }).select('error_code');
    expect(rejected).to.deep.equal([{ error_code: 'validation_failed' }]);
  });

  it('two batches in flight with the same key apply it once: the other answers as a replay, or as a conflict when its payload differs', async () => {
    // create-charge locks nothing (its charge does not exist yet), so the two batches race from their
    // first statement: the one that writes second meets the first's key and is redone as a replay.
    for (let pair = 0; pair < 10; pair++) {
      const payload = chargePayload();
      const jobId = `dup-create-${pair}`;
      const outcomes = await Promise.all([apply(knex(), 'create-charge', [item(payload, jobId)]), apply(knex(), 'create-charge', [item(payload, jobId)])]);
      const results = outcomes.map(([o]) => (o.ok ? o.result : o.error));
      expect(results.map((r) => (r as { replayed?: boolean }).replayed === true).sort()).to.deep.equal([false, true]);
      expect(await knex()('charge_flat_fees').where({ id: payload.id })).to.have.length(1);
      expect((await keysOf('create-charge', [jobId])).map((k) => [k.key, k.result.chargeId])).to.deep.equal([[jobId, payload.id]]);
    }
    // The same key on two charges: locks do not keep the batches apart either; one applies, the other conflicts.
    const [a, b] = await chargesWithRuns(knex(), 2);
    const outcomes = await Promise.all([apply(knex(), 'allocate-credit', [item(allocate(a, '3', { idempotencyKey: 'k-shared' }))]), apply(knex(), 'allocate-credit', [item(allocate(b, '4', { idempotencyKey: 'k-shared' }))])]);
    expect(outcomes.map(([o]) => codeOf(o)).sort()).to.deep.equal(['idempotency_key_conflict', null].sort());
    const applied = outcomes.findIndex(([o]) => o.ok);
    expect((await realizationsOf(applied === 0 ? a : b)).map((r) => r.amount)).to.deep.equal([applied === 0 ? '3' : '4']);
    expect(await realizationsOf(applied === 0 ? b : a)).to.have.length(0);
    expect(await keysOf('allocate-credit', ['k-shared'])).to.have.length(1);
  });
});
