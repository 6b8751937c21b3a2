import { expect } from 'chai';
import { ulid } from 'ulid';
import { DEFAULT_JOB_OPTIONS, FlatFeeQueues, ValidationError, QUEUE_NAMES } from '../../src/index';
import type { CreateChargePayload } from '../../src/index';
import { loadConfig } from '../../src/config';
import { RETENTION } from '../../src/queues/worker';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

const camel = (kind: string) => kind.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

describe('FlatFeeQueues, the typed producer client', () => {
  const db = useTestDatabase('producer');
  const h = useWorkerHarness('producer', () => db().knex);
  let client: FlatFeeQueues;

  before(() => {
    client = new FlatFeeQueues({ redisUrl: loadConfig().redisUrl, prefix: h().prefix });
  });
  after(async () => client.close());

  it('has one method per registered job kind', () => {
    const missing = QUEUE_NAMES.filter((kind) => typeof (client as unknown as Record<string, unknown>)[camel(kind)] !== 'function');
    expect(missing, 'add a method to src/queues/producer.ts for each new job kind').to.deep.equal([]);
  });

  it('types payloads from the worker schemas', () => {
    const ok: CreateChargePayload = chargePayload() as CreateChargePayload;
    // @ts-expect-error amounts are decimal strings, never numbers
    const numberAmount: CreateChargePayload = { ...ok, amountBeforeProration: 100 };
    // @ts-expect-error settlementMode is one of the schema's values
    const badMode: CreateChargePayload = { ...ok, settlementMode: 'cash' };
    expect([numberAmount, badMode]).to.have.length(2);
  });

  it('validates before enqueueing: a bad payload lists every field and never reaches Redis', async () => {
    const before = await client.queue('create-charge').count();
    const bad = { ...chargePayload(), amountBeforeProration: 100, currency: 'EURO' } as unknown as CreateChargePayload;
    const err = await client.createCharge(bad).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(ValidationError);
    expect((err as ValidationError).code).to.equal('validation_failed');
    expect((err as ValidationError).problems.map((p) => p.path).sort()).to.deep.equal(['amountBeforeProration', 'currency']);
    expect(await client.queue('create-charge').count()).to.equal(before);
  });

  it('sets attempts, exponential backoff and retention by default, and the idempotency key in the payload', async () => {
    const p = chargePayload();
    const job = await client.createCharge(p as CreateChargePayload, { idempotencyKey: `upstream-${p.id}` });
    expect(job.opts).to.deep.include({ attempts: 8, backoff: { type: 'exponential', delay: 500 }, ...RETENTION });
    expect(DEFAULT_JOB_OPTIONS.attempts).to.equal(8);
    expect(job.data.idempotencyKey).to.equal(`upstream-${p.id}`);
    const done = await h().wait(job);
    expect(done.result).to.include({ chargeId: p.id, status: 'created' });
  });

  it('refuses two different idempotency keys for one job', async () => {
    const p = { ...chargePayload(), idempotencyKey: 'in-payload' } as CreateChargePayload;
    await expect(client.createCharge(p, { idempotencyKey: 'in-options' })).to.be.rejectedWith('idempotency key given twice');
  });

  it('reads back outcomes: a result when completed, the error code when failed, null when unknown', async () => {
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const created = await client.createCharge(p as CreateChargePayload);
    await h().wait(created);
    const ok = await client.outcome('create-charge', created.id!);
    expect(ok).to.deep.include({ state: 'completed', failedReason: null, errorCode: null });
    expect(ok!.result).to.include({ chargeId: p.id, status: 'active' });

    const failed = await client.activateCharge({ namespace: NS, chargeId: ulid() });
    await h().wait(failed);
    const bad = await client.outcome('activate-charge', failed.id!);
    expect(bad).to.deep.include({ state: 'failed', result: null, errorCode: 'charge_not_found' });
    expect(bad!.failedReason).to.match(/^charge_not_found: charge not found \[namespace=ns-test charge_id=/);

    expect(await client.outcome('payment', 'no-such-job')).to.equal(null);
  });
});
