import { expect } from 'chai';
import fc from 'fast-check';
import { ulid } from 'ulid';
import { ValidationError } from '../../src/domain/errors';
import { JOBS, QUEUE_NAMES, QueueName } from '../../src/queues/registry';
import { validate } from '../../src/validation';
import { badPayload, BadPayload, FIELDS, notAnObject, SQL_AND_JSON, VALID } from '../helpers/bad-payloads';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { enqueueAll, jobsIn, LONG, PlannedJob, seeded, shuffle, waitForFinished } from '../helpers/flow';
import { useWorkerHarness } from '../helpers/queue';

// Bad input: thousands of malformed payloads for every job kind must each fail at once with
// validation_failed naming the field, retry nothing and write nothing, while good jobs sent among
// them (SQL and JSON fragments in their free text included) complete and are stored verbatim.

const KINDS = Object.keys(FIELDS) as QueueName[];
const PER_KIND_VALIDATE = LONG ? 20000 : 2000;
const PER_KIND_WORKER = LONG ? 3000 : 300;
const GOOD = LONG ? 500 : 60;
const SEED = Number(process.env.SEED ?? Date.now() % 1000000);
const TABLES = ['charge_flat_fees', 'charge_flat_fee_runs', 'charge_flat_fee_run_credit_allocations', 'charge_flat_fee_run_invoiced_usages', 'charge_flat_fee_run_payments', 'charge_flat_fee_run_detailed_lines'];

function validationMessage(kind: QueueName, data: unknown): string | null {
  try {
    validate(JOBS[kind].schema, data);
    return null;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.message;
  }
}

describe('reliability: malformed payloads fail at once and write nothing', function () {
  this.timeout(LONG ? 900000 : 120000);
  const db = useTestDatabase('bad_input');
  const h = useWorkerHarness('bad-input', () => db().knex, { concurrency: 8 });
  const count = async (table: string) => Number((await db().knex(table).count({ n: '*' }).first())!.n);

  it('the models cover every job kind, and their unbroken payloads are valid', () => {
    expect([...KINDS].sort()).to.deep.equal(QUEUE_NAMES.filter((q) => q !== 'migrate-legacy-flat-fees').sort());
    for (const kind of KINDS) expect(validationMessage(kind, VALID[kind]()), kind).to.equal(null);
  });

  for (const kind of KINDS) {
    it(`${kind}: ${PER_KIND_VALIDATE} broken payloads each fail validation naming the field (seed ${SEED})`, () => {
      fc.assert(
        fc.property(badPayload(kind), (bad) => {
          const message = validationMessage(kind, bad.data);
          expect(message, bad.how).to.be.a('string');
          expect(message!, bad.how).to.match(/^validation_failed: /);
          expect(message!, bad.how).to.include(bad.names);
        }),
        { numRuns: PER_KIND_VALIDATE, seed: SEED },
      );
    });
  }

  it(`through the worker: ${PER_KIND_WORKER} broken payloads per kind among ${GOOD} good jobs (seed ${SEED})`, async () => {
    // Given broken payloads of every kind, non-objects on every queue, and good charges whose free text carries SQL and JSON
    const bad: BadPayload[] = KINDS.flatMap((kind) => fc.sample(badPayload(kind), { numRuns: PER_KIND_WORKER, seed: SEED }));
    bad.push(...QUEUE_NAMES.flatMap((queue) => fc.sample(notAnObject, { numRuns: 10, seed: SEED }).map((data): BadPayload => ({ queue, data, names: '(payload)', how: 'not an object' }))));
    const good = Array.from({ length: GOOD }, (_, i) => {
      const text = SQL_AND_JSON[i % SQL_AND_JSON.length];
      return chargePayload({ id: ulid(), name: `n ${text}`, customerId: `c ${text}`, description: text, metadata: { note: text, [text]: [text] } }) as Record<string, unknown>;
    });
    const planned: PlannedJob[] = [
      ...bad.map((b, i): PlannedJob => ({ queue: b.queue, data: b.data as Record<string, unknown>, jobId: `bad-${i}` })),
      ...good.map((data, i): PlannedJob => ({ queue: 'create-charge', data, jobId: `good-${i}` })),
    ];
    await enqueueAll(h().queues, shuffle(planned, seeded(SEED)));
    await waitForFinished(h().queues, planned.length, { timeoutMs: LONG ? 800000 : 100000 });

    // Then every broken one failed on its first attempt with validation_failed naming the field
    const failed = new Map((await Promise.all(QUEUE_NAMES.map((q) => jobsIn(h().queues.queue(q), 'failed')))).flat().map((j) => [j.id, j]));
    const completed = new Map((await Promise.all(QUEUE_NAMES.map((q) => jobsIn(h().queues.queue(q), 'completed')))).flat().map((j) => [j.id, j]));
    bad.forEach((b, i) => {
      const job = failed.get(`bad-${i}`);
      expect(job, `${b.queue} ${b.how}: ${completed.get(`bad-${i}`) ? 'completed' : 'not failed'}`).to.not.equal(undefined);
      expect(job!.failedReason, `${b.queue} ${b.how}`).to.match(/^validation_failed: /);
      expect(job!.failedReason, `${b.queue} ${b.how}`).to.include(b.names);
      expect(job!.attemptsMade, `${b.queue} ${b.how}`).to.equal(1);
    });

    // And the good ones completed, stored verbatim, and are the only rows written
    good.forEach((_, i) => expect(completed.get(`good-${i}`), `good-${i}: ${failed.get(`good-${i}`)?.failedReason}`).to.not.equal(undefined));
    const rows = await db().knex('charge_flat_fees').select('id', 'name', 'customer_id', 'description', 'metadata');
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const g of good) {
      expect(byId.get(g.id)).to.deep.include({ name: g.name, customer_id: g.customerId, description: g.description, metadata: g.metadata });
    }
    const counts = Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, await count(t)])));
    expect(counts).to.deep.equal({ ...Object.fromEntries(TABLES.map((t) => [t, 0])), charge_flat_fees: GOOD });
    expect(await count('flat_fee_idempotency_keys')).to.equal(GOOD);
  });
});
