import { expect } from 'chai';
import { ulid } from 'ulid';
import * as activateJob from '../../jobs/activate-charge';
import * as createJob from '../../jobs/create-charge';
import { applyJob } from '../../src/engine/batch-runner';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { apply, codeOf, item, roundTrips, silent } from './helpers';

/** Three kinds of charge: live from creation, credit-only (waits for activation), and one prorated over half its period. */
const KINDS = {
  invoice: { settlementMode: 'credit_then_invoice' },
  creditOnly: { settlementMode: 'credit_only', invoiceAt: '2026-01-01T00:00:00Z' },
  prorated: { settlementMode: 'invoice_only', amountBeforeProration: '99.99', servicePeriod: { from: '2026-01-16T00:00:00Z', to: '2026-02-01T00:00:00Z' } },
} as const;
type Kind = keyof typeof KINDS;

describe('batched apply: create-charge and activate-charge with set-based statements', () => {
  const db = useTestDatabase('batch_provision');
  const knex = () => db().knex;

  /** A charge's rows without the ids and times that differ between two charges. */
  const stateOf = async (chargeId: string) => {
    const charge = await knex()('charge_flat_fees').where({ id: chargeId }).first();
    const { id, created_at, updated_at, current_realization_run_id: runId, ...chargeRest } = charge;
    const runs = await knex()('charge_flat_fee_runs').where({ charge_id: chargeId })
      .select('type', 'initial_type', 'amount_after_proration', 'no_fiat_transaction_required', 'total', 'service_period_from', 'line_id', knex().raw('id = ? AS is_current', [runId ?? '']));
    const receipt = await knex()('charge_flat_fee_proration_receipts').where({ charge_id: chargeId }).first();
    const { charge_id, id: receiptId, run_id: receiptRunId, created_at: _receiptTime, ...receiptRest } = receipt ?? {};
    // A charge's first receipt carries the charge's id, and names the run created with the charge (none for credit_only).
    expect(receiptId).to.equal(chargeId);
    expect(receiptRunId).to.equal(chargeRest.settlement_mode === 'credit_only' ? null : runId);
    return { charge: chargeRest, hasRun: runId !== null, runs, receipt: receiptRest };
  };
  const journalOf = (chargeId: string, queue: string) =>
    knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue }).orderBy('id')
      .select('outcome', 'error_code', 'changes', 'totals_before', 'totals_after', knex().raw('run_id IS NOT NULL AS has_run'));
  const resultOf = (o: unknown) => (o as { result: Record<string, unknown> }).result;
  /** A result with its ids and activation time replaced by whether they are set. */
  const shape = (r: Record<string, unknown>) => ({ ...r, chargeId: typeof r.chargeId, currentRunId: r.currentRunId === null ? null : typeof r.currentRunId, activatedAt: r.activatedAt === null ? null : typeof r.activatedAt });
  const payloadOf = (kind: Kind) => chargePayload({ ...KINDS[kind], uniqueReferenceId: `ref-${ulid()}` });

  it('creates 30 charges of three kinds and activates them, two round trips per batch, writing what the per-job path writes', async () => {
    const kinds = Object.keys(KINDS) as Kind[];
    const references = new Map<Kind, { id: string; created: Record<string, unknown>; activated: Record<string, unknown> }>();
    for (const kind of kinds) {
      const p = payloadOf(kind);
      const created = await applyJob(createJob, p, { knex: knex(), logger: silent, job: null, jobId: `ref-c-${p.id}` });
      const activated = await applyJob(activateJob, { namespace: NS, chargeId: p.id }, { knex: knex(), logger: silent, job: null, jobId: `ref-a-${p.id}` });
      references.set(kind, { id: p.id, created, activated });
    }
    const batched = Array.from({ length: 30 }, (_, i) => ({ kind: kinds[i % 3], payload: payloadOf(kinds[i % 3]) }));

    const created = await roundTrips(knex(), () => apply(knex(), 'create-charge', batched.map((b) => item(b.payload))));
    expect(created.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(created.trips).to.equal(2);
    const activated = await roundTrips(knex(), () => apply(knex(), 'activate-charge', batched.map((b) => item({ namespace: NS, chargeId: b.payload.id }))));
    expect(activated.out.map(codeOf)).to.deep.equal(batched.map(() => null));
    expect(activated.trips).to.equal(2);

    for (const [i, { kind, payload }] of batched.entries()) {
      const ref = references.get(kind)!;
      const { charge: refCharge, ...refRest } = await stateOf(ref.id);
      const { charge, ...rest } = await stateOf(payload.id);
      expect({ ...charge, unique_reference_id: null }, kind).to.deep.equal({ ...refCharge, unique_reference_id: null });
      expect(rest, kind).to.deep.equal(refRest);
      for (const queue of ['create-charge', 'activate-charge']) expect(await journalOf(payload.id, queue), `${kind} ${queue}`).to.deep.equal(await journalOf(ref.id, queue));
      expect(shape(resultOf(created.out[i])), kind).to.deep.equal(shape(ref.created));
      expect(shape(resultOf(activated.out[i])), kind).to.deep.equal(shape(ref.activated));
    }
    const creditOnly = batched.find((b) => b.kind === 'creditOnly')!;
    expect(await stateOf(creditOnly.payload.id)).to.deep.include({ hasRun: true });
    expect((await stateOf(creditOnly.payload.id)).charge.status).to.equal('active');
  });

  it('a charge id already taken among 10 fails alone with charge_already_exists; the rest are created once', async () => {
    const taken = payloadOf('invoice');
    await apply(knex(), 'create-charge', [item(taken)]);
    const payloads = Array.from({ length: 10 }, (_, i) => (i === 4 ? { ...payloadOf('invoice'), id: taken.id } : payloadOf('invoice')));
    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'create-charge', payloads.map((p) => item(p))));
    expect(out.map(codeOf)).to.deep.equal(payloads.map((_, i) => (i === 4 ? 'charge_already_exists' : null)));
    expect(trips).to.be.greaterThan(2);
    const rows = await knex()('charge_flat_fees').whereIn('id', payloads.map((p) => p.id)).select('id');
    expect(rows).to.have.length(10);
    expect(await knex()('charge_flat_fee_runs').whereIn('charge_id', payloads.map((p) => p.id))).to.have.length(10);
  });

  it('an activation before invoiceAt is delayed alone, in the two round trips of the batch; the charge stays as it was', async () => {
    const early = chargePayload({ settlementMode: 'credit_only', invoiceAt: '2099-01-01T00:00:00Z' });
    const due = payloadOf('creditOnly');
    await apply(knex(), 'create-charge', [item(early), item(due)]);
    const { out, trips } = await roundTrips(knex(), () => apply(knex(), 'activate-charge', [item({ namespace: NS, chargeId: due.id }), item({ namespace: NS, chargeId: early.id })]));
    expect(trips).to.equal(2);
    expect(out[0].ok).to.equal(true);
    expect(out[1].ok).to.equal(false);
    expect((out[1] as { error: Error }).error.name).to.equal('DelayJob');
    expect(await stateOf(early.id)).to.deep.include({ hasRun: false });
    expect((await stateOf(early.id)).charge.status).to.equal('created');
    expect((await stateOf(due.id)).charge.status).to.equal('active');
  });

  it('a twin delivered in the same batch replays and is journaled with the run the first delivery made', async () => {
    const live = payloadOf('invoice');
    const created = item(live);
    const createOut = await apply(knex(), 'create-charge', [created, item(created.data, created.jobId!)]);
    const due = payloadOf('creditOnly');
    await apply(knex(), 'create-charge', [item(due)]);
    const activation = item({ namespace: NS, chargeId: due.id });
    const activateOut = await apply(knex(), 'activate-charge', [activation, item(activation.data, activation.jobId!)]);
    for (const [chargeId, queue, out] of [[live.id, 'create-charge', createOut], [due.id, 'activate-charge', activateOut]] as const) {
      const runId = (await knex()('charge_flat_fees').where({ id: chargeId }).first()).current_realization_run_id;
      expect(runId, queue).to.be.a('string');
      expect(out.map((o) => resultOf(o).replayed ?? false), queue).to.deep.equal([false, true]);
      const rows = await knex()('flat_fee_job_journal').where({ charge_id: chargeId, queue }).orderBy('id').select('outcome', 'run_id');
      expect(rows, queue).to.deep.equal([{ outcome: 'applied', run_id: runId }, { outcome: 'replayed', run_id: runId }]);
    }
  });
});
