import { expect } from 'chai';
import { ulid } from 'ulid';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

describe('validation and exactly-once through the worker', () => {
  const db = useTestDatabase('validation');
  const h = useWorkerHarness('validation', () => db().knex);
  const count = async (table: string) => Number((await db().knex(table).count({ n: '*' }).first())!.n);

  it('lists every bad field in one validation_failed error, fails at once and writes nothing', async () => {
    const p = chargePayload({ currency: 'XXY', amountBeforeProration: 100, settlementMode: 'credit_first' });
    const out = await h().run('create-charge', p);
    expect(out.state).to.equal('failed');
    expect(out.job.attemptsMade).to.equal(1);
    expect(out.failedReason).to.match(/^validation_failed: /);
    expect(out.failedReason).to.include('currency');
    expect(out.failedReason).to.include('amountBeforeProration');
    expect(out.failedReason).to.include('settlementMode');
    expect(await count('charge_flat_fees')).to.equal(0);
    expect(await count('flat_fee_idempotency_keys')).to.equal(0);
  });

  it('rejects unknown fields, nested ones included', async () => {
    const p = chargePayload({ surprise: 1, servicePeriod: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z', extra: true } });
    const out = await h().run('create-charge', p);
    expect(out.failedReason).to.match(/^validation_failed: /);
    expect(out.failedReason).to.match(/unknown fields: surprise/);
    expect(out.failedReason).to.match(/servicePeriod has unknown fields: extra/);
  });

  it('rejects amounts sent as JSON numbers, bad dates and signs by realization type', async () => {
    const chargeId = ulid();
    const out = await h().run('allocate-credit', {
      namespace: NS,
      chargeId,
      realizations: [
        { type: 'allocation', amount: 10, transactionGroupId: 'tg' },
        { type: 'allocation', amount: '-5', transactionGroupId: 'tg' },
        { type: 'correction', amount: '5', transactionGroupId: 'tg', correctsRealizationId: ulid(), servicePeriod: { from: 'yesterday', to: '2026-01-01T00:00:00Z' } },
      ],
    });
    expect(out.failedReason).to.match(/^validation_failed: /);
    expect(out.failedReason).to.include('realizations[0].amount');
    expect(out.failedReason).to.include('realizations[1].amount must be > 0');
    expect(out.failedReason).to.include('realizations[2].amount must be <= 0');
    expect(out.failedReason).to.include('realizations[2].servicePeriod.from');
  });

  it('replays a duplicate delivery with the stored result and no second effect', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const first = await h().run('create-charge', p, { idempotencyKey: 'create-once' });
    const again = await h().run('create-charge', p, { idempotencyKey: 'create-once' });
    expect(again.state).to.equal('completed');
    expect(again.result).to.deep.equal({ ...first.result, replayed: true });
    expect(await db().knex('charge_flat_fees').where({ id: p.id })).to.have.length(1);
    expect(await db().knex('charge_flat_fee_runs').where({ charge_id: p.id })).to.have.length(1);
  });

  it('uses the BullMQ job id as the key when the payload has none', async () => {
    const p = chargePayload();
    await h().run('create-charge', p, { jobId: 'charge-job-1' });
    const row = await db().knex('flat_fee_idempotency_keys').where({ queue: 'create-charge', key: 'charge-job-1' }).first();
    expect(row).to.deep.include({ namespace: NS, job_id: 'charge-job-1' });
    expect(row.result).to.deep.include({ chargeId: p.id, status: 'created' });
  });

  it('fails the same key with a different payload as idempotency_key_conflict, changing nothing', async () => {
    const p = chargePayload();
    await h().run('create-charge', p, { idempotencyKey: 'conflicting' });
    const before = await count('charge_flat_fees');
    const out = await h().run('create-charge', { ...p, id: ulid(), amountBeforeProration: '101' }, { idempotencyKey: 'conflicting' });
    expect(out.state).to.equal('failed');
    expect(out.job.attemptsMade).to.equal(1);
    expect(out.failedReason).to.match(/^idempotency_key_conflict: idempotency key "conflicting"/);
    expect(await count('charge_flat_fees')).to.equal(before);
  });

  it('scopes keys per namespace: the same key in two namespaces is two effects', async () => {
    const a = chargePayload();
    const b = chargePayload({ namespace: 'other-ns' });
    await h().run('create-charge', a, { idempotencyKey: 'shared' });
    const out = await h().run('create-charge', b, { idempotencyKey: 'shared' });
    expect(out.result!.replayed).to.equal(undefined);
    expect(await db().knex('charge_flat_fees').whereIn('id', [a.id, b.id])).to.have.length(2);
  });

  it('refuses a second charge with the same unique reference in a namespace', async () => {
    await h().run('create-charge', chargePayload({ uniqueReferenceId: 'sub-1/platform' }));
    const out = await h().run('create-charge', chargePayload({ uniqueReferenceId: 'sub-1/platform' }));
    expect(out.failedReason).to.match(/^unique_reference_id_conflict: /);
    expect(out.job.attemptsMade).to.equal(1);
  });
});
