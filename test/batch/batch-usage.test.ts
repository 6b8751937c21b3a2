import { expect } from 'chai';
import { ulid } from 'ulid';
import * as usageJob from '../../jobs/create-invoiced-usage';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { NS, totals } from '../helpers/fixtures';
import { apply, chargesWithRuns, codeOf, item, roundTrips, silent } from './helpers';

const line = (ref: string, quantity: string, extra: Record<string, unknown> = {}) => ({
  childUniqueReferenceId: ref, name: `line ${ref}`, quantity, perUnitAmount: '10', totals: totals({ amount: '10', total: '10' }), ...extra,
});

/** A first usage with lines a, b and c, and its refresh: a updated, b dropped, d added. */
function usages(chargeId: string) {
  const base = { namespace: NS, chargeId, lineId: ulid(), invoiceId: ulid(), servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' } };
  return {
    first: { ...base, totals: totals({ amount: '100', chargesTotal: '100', total: '100' }), detailedLines: [line('a', '1', { description: 'first' }), line('b', '2'), line('c', '3')] },
    refresh: { ...base, totals: totals({ amount: '90', chargesTotal: '90', total: '90' }), ledgerTransactionGroupId: 'ltg', detailedLines: [line('a', '4'), line('c', '3'), line('d', '5', { index: 7 })] },
  };
}

type Result = Record<string, unknown> & { detailedLineIds: string[]; deletedDetailedLineIds: string[] };

describe('batched apply: create-invoiced-usage with set-based statements', () => {
  const db = useTestDatabase('batch_usage');
  const knex = () => db().knex;

  const runOf = async (chargeId: string) => {
    const { current_realization_run_id: runId } = await knex()('charge_flat_fees').where({ id: chargeId }).first();
    return knex()('charge_flat_fee_runs').where({ id: runId }).first();
  };
  /** What a charge's run, usage and lines hold, without ids and times that differ between charges. */
  const stateOf = async (chargeId: string) => {
    const run = await runOf(chargeId);
    const [usage] = await knex()('charge_flat_fee_run_invoiced_usages').where({ run_id: run.id }).select('amount', 'charges_total', 'total', 'ledger_transaction_group_id', 'service_period_from');
    const lines = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: run.id }).orderBy(['child_unique_reference_id', 'created_at'])
      .select('child_unique_reference_id', 'name', 'description', 'quantity', 'per_unit_amount', 'index', 'payment_term', 'category', 'total', knex().raw('deleted_at IS NOT NULL AS deleted'));
    return { run: [run.amount, run.charges_total, run.total], usage, lines };
  };
  const journalOf = (chargeId: string) =>
    knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue: 'create-invoiced-usage' }).orderBy('id').select('outcome', 'error_code', 'changes', 'totals_before', 'totals_after');
  const linesById = async (chargeId: string) => {
    const run = await runOf(chargeId);
    const rows = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: run.id });
    return new Map(rows.map((r) => [r.id as string, r.child_unique_reference_id as string]));
  };
  /** A result with its line ids replaced by the references they name. */
  const shapeOf = async (chargeId: string, r: Result) => {
    const refs = await linesById(chargeId);
    return { keys: Object.keys(r).sort(), lines: r.detailedLineIds.map((id) => refs.get(id)), deleted: r.deletedDetailedLineIds.map((id) => refs.get(id)), runId: r.runId === (await runOf(chargeId)).id };
  };
  const resultOf = (o: unknown) => (o as { result: Result }).result;

  it('records 20 usages and their refreshes in two batches of two round trips each, writing what the per-job path writes', async () => {
    const [reference, ...batched] = await chargesWithRuns(knex(), 21);
    const ref = usages(reference);
    const perJob = [] as Result[];
    for (const [i, payload] of [ref.first, ref.refresh].entries()) perJob.push((await applyJob(usageJob, payload, { knex: knex(), logger: silent, job: null, jobId: `ref-${i}` })) as Result);
    const payloads = batched.map(usages);

    const first = await roundTrips(knex(), () => apply(knex(), 'create-invoiced-usage', payloads.map((p) => item(p.first))));
    expect(first.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(first.trips).to.equal(2);
    const refresh = await roundTrips(knex(), () => apply(knex(), 'create-invoiced-usage', payloads.map((p) => item(p.refresh))));
    expect(refresh.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(refresh.trips).to.equal(2);

    const expected = await stateOf(reference);
    expect(expected.lines.map((l) => [l.child_unique_reference_id, l.quantity, l.deleted])).to.deep.equal([['a', '4', false], ['b', '2', true], ['c', '3', false], ['d', '5', false]]);
    const refJournal = await journalOf(reference);
    const refShapes = [await shapeOf(reference, perJob[0]), await shapeOf(reference, perJob[1])];
    for (const [i, id] of batched.entries()) {
      expect(await stateOf(id)).to.deep.equal(expected);
      expect((await runOf(id)).line_id).to.equal(payloads[i].first.lineId);
      expect(await journalOf(id)).to.deep.equal(refJournal);
      expect([await shapeOf(id, resultOf(first.out[i])), await shapeOf(id, resultOf(refresh.out[i]))]).to.deep.equal(refShapes);
    }
  });

  it('a usage and its refresh in the same batch end as they do one after the other, each journaled with its own change', async () => {
    const [reference, id] = await chargesWithRuns(knex(), 2);
    const ref = usages(reference);
    for (const payload of [ref.first, ref.refresh]) await applyJob(usageJob, payload, { knex: knex(), logger: silent, job: null, jobId: `ref-${ulid()}` });
    const both = usages(id);
    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'create-invoiced-usage', [item(both.first), item(both.refresh)]));
    expect(out.map(codeOf)).to.deep.equal([null, null]);
    expect(trips).to.equal(2);
    expect(await stateOf(id)).to.deep.equal(await stateOf(reference));
    expect((await journalOf(id)).map((j) => j.changes)).to.deep.equal((await journalOf(reference)).map((j) => j.changes));
    const [firstResult, refreshResult] = out.map(resultOf);
    expect(refreshResult.invoicedUsageId).to.equal(firstResult.invoicedUsageId);
    // a and c keep the rows the first job inserted; b is the one soft-deleted.
    expect(refreshResult.detailedLineIds.slice(0, 2)).to.deep.equal([firstResult.detailedLineIds[0], firstResult.detailedLineIds[2]]);
    expect(refreshResult.deletedDetailedLineIds).to.deep.equal([firstResult.detailedLineIds[1]]);
  });

  it('a line already used by another run fails alone with line_already_used; the rest commit', async () => {
    const charges = await chargesWithRuns(knex(), 10);
    const payloads = charges.map((id) => usages(id).first);
    const clash = { ...payloads[6], lineId: payloads[2].lineId };
    const outcomes = await apply(knex(), 'create-invoiced-usage', payloads.map((p, i) => item(i === 6 ? clash : p)));
    expect(outcomes.map(codeOf)).to.deep.equal(charges.map((_, i) => (i === 6 ? 'line_already_used' : null)));
    expect((await runOf(charges[6])).line_id).to.equal(null);
    expect(await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: (await runOf(charges[6])).id })).to.have.length(0);
    expect((await runOf(charges[2])).line_id).to.equal(payloads[2].lineId);
    expect((await stateOf(charges[9])).lines.map((l) => l.child_unique_reference_id)).to.deep.equal(['a', 'b', 'c']);
  });

  it('a reference dropped and taken again within one batch is redone one savepoint per job, with the per-job result', async () => {
    const [id] = await chargesWithRuns(knex(), 1);
    const { first } = usages(id);
    await apply(knex(), 'create-invoiced-usage', [item(first)]);
    const withoutB = { ...first, detailedLines: [line('a', '1'), line('c', '3')] };
    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'create-invoiced-usage', [item(withoutB), item(first)]));
    expect(out.map(codeOf)).to.deep.equal([null, null]);
    expect(trips).to.be.greaterThan(2);
    const lines = (await stateOf(id)).lines.map((l) => [l.child_unique_reference_id, l.deleted]);
    expect(lines).to.deep.equal([['a', false], ['b', true], ['b', false], ['c', false]]);
  });

  it('a soft delete writes only deleted_at and updated_at: a migrated line keeps its stored scale and precision', async () => {
    const [id] = await chargesWithRuns(knex(), 1);
    const run = await runOf(id);
    // As the legacy migration copies them: numeric scale and microseconds kept from the legacy row.
    await knex().raw(
      `INSERT INTO charge_flat_fee_run_detailed_lines (id, namespace, run_id, created_at, updated_at, child_unique_reference_id, name, quantity, per_unit_amount,
         category, payment_term, service_period_start, service_period_end, "index", amount, charges_total, discounts_total, taxes_inclusive_total,
         taxes_exclusive_total, taxes_total, credits_total, total)
       VALUES (?, ?, ?, now(), now(), 'legacy', 'legacy line', 10.00, 2.50, 'regular', 'in_advance', '2026-01-01 00:00:00.123456+00', '2026-02-01 00:00:00+00', 0,
         25.00, 25.00, 0, 0, 0, 0, 0, 25.00)`,
      [ulid(), NS, run.id],
    );
    const { first } = usages(id);
    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'create-invoiced-usage', [item(first)]));
    expect(out.map(codeOf)).to.deep.equal([null]);
    expect(trips).to.equal(2);
    const legacy = await knex()('charge_flat_fee_run_detailed_lines').where({ run_id: run.id, child_unique_reference_id: 'legacy' })
      .first('quantity', 'per_unit_amount', 'total', knex().raw(`to_char(service_period_start AT TIME ZONE 'UTC', 'US') AS micros`), knex().raw('deleted_at IS NOT NULL AS deleted'));
    expect(legacy).to.deep.equal({ quantity: '10.00', per_unit_amount: '2.50', total: '25.00', micros: '123456', deleted: true });
  });
});
