import { expect } from 'chai';
import * as activateJob from '../../jobs/activate-charge';
import * as allocateJob from '../../jobs/allocate-credit';
import * as createJob from '../../jobs/create-charge';
import * as deleteJob from '../../jobs/delete-charge';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS } from '../helpers/fixtures';
import { apply, codeOf, item, roundTrips, silent } from './helpers';

/** Charges as deletion meets them: with allocations to take back (credit_only totals follow them), with none to, or without a run. */
const KINDS = {
  creditOnly: { charge: { settlementMode: 'credit_only', amountBeforeProration: '30' }, due: true, allocations: ['20', '10'], deletion: {} },
  invoice: { charge: { settlementMode: 'credit_then_invoice', amountBeforeProration: '50' }, due: true, allocations: ['5', '7'], deletion: {} },
  keepCredits: { charge: { settlementMode: 'credit_then_invoice', amountBeforeProration: '50' }, due: true, allocations: ['5'], deletion: { refundPolicy: 'none' } },
  noRun: { charge: { settlementMode: 'credit_only', invoiceAt: '2099-01-01T00:00:00Z' }, due: false, allocations: [], deletion: {} },
} as const;
type Kind = keyof typeof KINDS;

describe('batched apply: delete-charge with set-based statements', () => {
  const db = useTestDatabase('batch_delete');
  const knex = () => db().knex;
  const run = (job: Parameters<typeof applyJob>[0], data: unknown, jobId: string) => applyJob(job, data, { knex: knex(), logger: silent, job: null, jobId });

  /** A charge of that kind, activated when it is due, with its allocations made by one job (a credit_only charge's must match its amount). */
  async function chargeOf(kind: Kind): Promise<string> {
    const p = chargePayload(KINDS[kind].charge);
    await run(createJob, p, `c-${p.id}`);
    if (KINDS[kind].due) await run(activateJob, { namespace: NS, chargeId: p.id }, `a-${p.id}`);
    const allocations = KINDS[kind].allocations.map((amount, i) => allocation(amount, { transactionGroupId: `tg-${i}` }));
    if (allocations.length > 0) await run(allocateJob, { namespace: NS, chargeId: p.id, realizations: allocations }, `al-${p.id}`);
    return p.id;
  }
  const deletion = (kind: Kind, chargeId: string, extra: Record<string, unknown> = {}) => ({ namespace: NS, chargeId, at: '2026-03-01T00:00:00Z', transactionGroupId: 'tg-del', ...KINDS[kind].deletion, ...extra });

  /** A charge's rows without the ids and times that differ between two charges. */
  const stateOf = async (chargeId: string) => {
    const { id, created_at, updated_at, unique_reference_id, current_realization_run_id: runId, ...charge } = await knex()('charge_flat_fees').where({ id: chargeId }).first();
    const runs = await knex()('charge_flat_fee_runs').where({ charge_id: chargeId }).select('credits_total', 'total', 'amount', knex().raw('id = ? AS is_current', [runId ?? '']));
    const realizations = await knex()('charge_flat_fee_run_credit_allocations as a')
      .leftJoin('charge_flat_fee_run_credit_allocations as o', 'o.id', 'a.corrects_realization_id')
      .join('charge_flat_fee_runs as r', 'r.id', 'a.run_id')
      .where('r.charge_id', chargeId)
      .orderBy([{ column: 'a.created_at' }, { column: 'a.sort_hint' }])
      .select('a.type', 'a.amount', 'a.sort_hint', 'a.transaction_group_id', 'o.amount as corrects_amount', 'a.deleted_at');
    return { charge, runs, realizations };
  };
  const journalOf = (chargeId: string) =>
    knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue: 'delete-charge' }).orderBy('id')
      .select('outcome', 'error_code', 'changes', 'totals_before', 'totals_after', knex().raw('run_id IS NOT NULL AS has_run'));
  const resultOf = (o: unknown) => (o as { result: Record<string, unknown> }).result;
  /** A result with its ids replaced by what they are. */
  const shape = (r: Record<string, unknown>) => ({ ...r, chargeId: typeof r.chargeId, runId: r.runId === null ? null : typeof r.runId, correctionIds: (r.correctionIds as string[]).length });

  it('deletes 16 charges of four kinds in one batch of two round trips, writing what the per-job path writes', async () => {
    const kinds = Object.keys(KINDS) as Kind[];
    const references = new Map<Kind, { id: string; result: Record<string, unknown> }>();
    for (const kind of kinds) {
      const id = await chargeOf(kind);
      references.set(kind, { id, result: await run(deleteJob, deletion(kind, id), `ref-d-${id}`) });
    }
    const batched: Array<{ kind: Kind; id: string }> = [];
    for (let i = 0; i < 16; i++) batched.push({ kind: kinds[i % 4], id: await chargeOf(kinds[i % 4]) });

    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'delete-charge', batched.map((b) => item(deletion(b.kind, b.id)))));
    expect(out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(trips).to.equal(2);
    for (const [i, { kind, id }] of batched.entries()) {
      const ref = references.get(kind)!;
      expect(await stateOf(id), kind).to.deep.equal(await stateOf(ref.id));
      expect(await journalOf(id), kind).to.deep.equal(await journalOf(ref.id));
      expect(shape(resultOf(out[i])), kind).to.deep.equal(shape(ref.result));
    }
    const creditOnly = await stateOf(batched[0].id);
    expect(creditOnly.realizations.map((r) => [r.type, r.amount, r.corrects_amount])).to.deep.equal([
      ['allocation', '20', null],
      ['allocation', '10', null],
      ['correction', '-10', '10'],
      ['correction', '-20', '20'],
    ]);
    expect(creditOnly.runs.map((r) => r.credits_total)).to.deep.equal(['0']);
    expect((await journalOf(batched[0].id))[0].changes).to.deep.equal({ charge_flat_fees: { updated: 1 }, charge_flat_fee_runs: { updated: 1 }, charge_flat_fee_run_credit_allocations: { inserted: 2 } });
    expect((await journalOf(batched[3].id))[0]).to.deep.include({ changes: { charge_flat_fees: { updated: 1 } }, totals_before: null, has_run: false });
  });

  it('without a transactionGroupId the corrections carry the job’s idempotency key, as per job', async () => {
    const id = await chargeOf('invoice');
    const { out: [out], trips } = await roundTrips(knex(), () => apply(knex(), 'delete-charge', [item({ namespace: NS, chargeId: id, idempotencyKey: 'del-key' })]));
    expect(codeOf(out)).to.equal(null);
    expect(trips).to.equal(2);
    const corrections = (await stateOf(id)).realizations.filter((r) => r.type === 'correction');
    expect(corrections.map((r) => [r.amount, r.transaction_group_id])).to.deep.equal([['-7', 'del-key'], ['-5', 'del-key']]);
  });

  it('without `at`, deleted now on both paths, with corrections after allocations written an hour ahead (a fast clock elsewhere)', async () => {
    const [reference, batched] = [await chargeOf('creditOnly'), await chargeOf('creditOnly')];
    await knex().raw(`UPDATE charge_flat_fee_run_credit_allocations a SET created_at = now() + interval '1 hour' FROM charge_flat_fee_runs r WHERE r.id = a.run_id AND r.charge_id IN (?, ?)`, [reference, batched]);
    const started = Date.now();
    await run(deleteJob, { namespace: NS, chargeId: reference }, `ref-${reference}`);
    const { out: [out], trips } = await roundTrips(knex(), () => apply(knex(), 'delete-charge', [item({ namespace: NS, chargeId: batched })]));
    expect(codeOf(out)).to.equal(null);
    expect(trips).to.equal(2);
    for (const id of [reference, batched]) {
      const charge = await knex()('charge_flat_fees').where({ id }).first();
      expect(charge.deleted_at.getTime(), id).to.be.within(started, Date.now());
      expect(charge.updated_at.getTime(), id).to.be.within(started, Date.now());
      const rows = (await stateOf(id)).realizations;
      expect(rows.map((r) => [r.type, r.amount]), id).to.deep.equal([['allocation', '20'], ['allocation', '10'], ['correction', '-10'], ['correction', '-20']]);
    }
  });

  it('a charge deleted before the batch answers with the first deletion and a missing charge fails alone; the others are deleted', async () => {
    const [before, plain] = [await chargeOf('invoice'), await chargeOf('creditOnly')];
    const first = await run(deleteJob, deletion('invoice', before), `first-${before}`);
    const missing = chargePayload().id;
    const { out, trips } = await roundTrips(knex(), () =>
      apply(knex(), 'delete-charge', [item(deletion('invoice', before)), item(deletion('invoice', missing)), item(deletion('creditOnly', plain))]),
    );
    expect(out.map(codeOf)).to.deep.equal([null, 'charge_not_found', null]);
    expect(trips).to.be.greaterThan(2);
    expect(resultOf(out[0])).to.deep.equal({ ...first, alreadyDeleted: true });
    expect((await stateOf(before)).realizations.filter((r) => r.type === 'correction')).to.have.length(2);
    expect((await stateOf(plain)).charge.status).to.equal('deleted');
  });

  it('a charge deleted twice in one batch is corrected once, in the two round trips of the batch; the second deletion answers with the first', async () => {
    const [twice, plain] = [await chargeOf('creditOnly'), await chargeOf('invoice')];
    const { out, trips } = await roundTrips(knex(), () =>
      apply(knex(), 'delete-charge', [item(deletion('creditOnly', twice)), item(deletion('invoice', plain)), item(deletion('creditOnly', twice, { at: '2026-04-01T00:00:00Z' }))]),
    );
    expect(out.map(codeOf)).to.deep.equal([null, null, null]);
    expect(trips).to.equal(2);
    expect(resultOf(out[2])).to.deep.equal({ ...resultOf(out[0]), alreadyDeleted: true });
    expect((await stateOf(twice)).realizations.map((r) => r.amount)).to.deep.equal(['20', '10', '-10', '-20']);
    expect((await knex()('charge_flat_fees').where({ id: twice }).first()).deleted_at.toISOString()).to.equal('2026-03-01T00:00:00.000Z');
    expect((await stateOf(plain)).charge.status).to.equal('deleted');
  });

  it('a redelivered deletion replays its stored result and writes nothing more', async () => {
    const id = await chargeOf('creditOnly');
    const del = item(deletion('creditOnly', id));
    const [first] = await apply(knex(), 'delete-charge', [del]);
    const [again, twin] = await apply(knex(), 'delete-charge', [item(del.data, del.jobId!), item(del.data, del.jobId!)]);
    expect(resultOf(again)).to.deep.equal({ ...resultOf(first), replayed: true });
    expect(resultOf(twin)).to.deep.equal({ ...resultOf(first), replayed: true });
    expect((await stateOf(id)).realizations).to.have.length(4);
    expect((await journalOf(id)).map((j) => j.outcome)).to.deep.equal(['applied', 'replayed', 'replayed']);
  });
});
