// Journal growth and cost, measured: `npx tsx bench/journal.ts [charges]` (default 1000).
// Each charge gets five deliveries: create (applied), activate (applied), allocate (applied),
// the allocation replayed, and a late allocation rejected (charge_not_active): the journal's mix.
import { Knex } from 'knex';
import pino from 'pino';
import * as activateCharge from '../jobs/activate-charge';
import * as allocateCredit from '../jobs/allocate-credit';
import * as createCharge from '../jobs/create-charge';
import { appendEntry, readEffectSnapshot } from '../src/db/journal';
import { runJob } from '../src/queues/run-job';
import { closeAdmin, createTestDatabase } from '../test/helpers/db';
import { allocation, chargePayload, NS } from '../test/helpers/fixtures';

const logger = pino({ level: 'silent' });

async function lifecycle(knex: Knex, i: number): Promise<void> {
  const env = (jobId: string) => ({ knex, logger, job: null, jobId });
  const p = chargePayload();
  await runJob(createCharge, p, env(`c-${i}`));
  await runJob(activateCharge, { namespace: NS, chargeId: p.id, at: '2026-01-01T00:00:00Z' }, env(`a-${i}`));
  const alloc = { namespace: NS, chargeId: p.id, realizations: [allocation('100')] };
  await runJob(allocateCredit, alloc, env(`x-${i}`));
  await runJob(allocateCredit, alloc, env(`x-${i}`));
  await runJob(allocateCredit, { ...alloc, realizations: [allocation('1')] }, env(`y-${i}`)).catch(() => undefined);
}

/** Median milliseconds of one call, inside a transaction as the runner makes it. */
async function medianMs(knex: Knex, times: number, f: (trx: Knex.Transaction) => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  await knex.transaction(async (trx) => {
    for (let i = 0; i < times; i++) {
      const t = process.hrtime.bigint();
      await f(trx);
      samples.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  });
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

/** Median runJob time of an applied allocate-credit (credit_then_invoice: many small allocations fit). */
async function appliedDeliveryMs(knex: Knex, times: number): Promise<number> {
  const env = (jobId: string) => ({ knex, logger, job: null, jobId });
  const p = chargePayload({ settlementMode: 'credit_then_invoice', amountBeforeProration: '1000000' });
  await runJob(createCharge, p, env(`d-create`));
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = process.hrtime.bigint();
    await runJob(allocateCredit, { namespace: NS, chargeId: p.id, realizations: [allocation('1')] }, env(`d-${i}`));
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

async function main(): Promise<void> {
  const charges = Number(process.argv[2] ?? 1000);
  const db = await createTestDatabase('bench_journal');
  try {
    const started = Date.now();
    for (let i = 0; i < charges; i++) await lifecycle(db.knex, i);
    const seconds = (Date.now() - started) / 1000;
    await db.knex.raw('VACUUM ANALYZE flat_fee_job_journal');
    const size = (await db.knex.raw(`SELECT pg_relation_size('flat_fee_job_journal') AS heap, pg_total_relation_size('flat_fee_job_journal') AS total, count(*) AS n FROM flat_fee_job_journal`)).rows[0];
    const perOutcome = (await db.knex.raw(`SELECT outcome, count(*) AS n, round(avg(pg_column_size(j.*))) AS row_bytes FROM flat_fee_job_journal j GROUP BY 1 ORDER BY 1`)).rows;
    const n = Number(size.n);
    console.log(`${charges} charges, ${n} journal rows, ${(n / seconds).toFixed(0)} deliveries/s through runJob (sequential)`);
    console.log(`table+indexes: ${size.total} bytes = ${Math.round(size.total / n)} bytes per row (heap only ${Math.round(size.heap / n)})`);
    for (const r of perOutcome) console.log(`  ${r.outcome}: ${r.n} rows, ${r.row_bytes} bytes of tuple data on average`);
    const chargeId = (await db.knex('charge_flat_fees').first('id')).id;
    const lock = await medianMs(db.knex, 500, (trx) => readEffectSnapshot(trx, NS, chargeId, true));
    const read = await medianMs(db.knex, 500, (trx) => readEffectSnapshot(trx, NS, chargeId, false));
    const row = { ...(await db.knex('flat_fee_job_journal').where({ outcome: 'applied' }).first()), id: undefined };
    const entry = { ...row, jobId: row.job_id, idempotencyKey: row.idempotency_key, payloadHash: row.payload_hash, chargeId: row.charge_id, runId: row.run_id, outcome: 'applied' as const, errorCode: null, errorMessage: null, totalsBefore: row.totals_before, totalsAfter: row.totals_after, startedAt: row.started_at, finishedAt: row.finished_at };
    const insert = await medianMs(db.knex, 500, (trx) => appendEntry(trx, entry));
    const applied = await appliedDeliveryMs(db.knex, 300);
    const journalMs = lock + read + insert;
    console.log(`median per statement: counters+lock+totals before ${lock.toFixed(3)} ms, counters+totals after ${read.toFixed(3)} ms, insert ${insert.toFixed(3)} ms`);
    console.log(`journal statements of an applied job: ${journalMs.toFixed(2)} ms of a median applied allocate-credit delivery of ${applied.toFixed(2)} ms (${((100 * journalMs) / applied).toFixed(0)} %)`);
  } finally {
    await db.drop();
    await closeAdmin();
  }
}

void main();
