import { spawn } from 'node:child_process';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { expect } from 'chai';
import { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { seedLegacy, SeedResult } from '../../src/db/legacy-migration-seed';
import { checkAllMigrated } from '../../src/db/legacy-migration-verify';
import { migrateLatest } from '../../src/db/migrate';
import { redisOptions } from '../../src/queues/connection';
import { FlatFeeQueues } from '../../src/queues/producer';
import { useTestDatabase } from '../helpers/db';
import { legacyCharge, tableCounts } from '../helpers/legacy-rows';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { FAST_STALLS, startWorkerProcess, WorkerProcess } from '../helpers/worker-process';

// A real worker process is SIGKILLed in the middle of a migration of a few thousand seeded legacy
// charges; a second process picks the stalled job up and must finish it with exact counts and no
// duplicates. Each case migrates its own namespace. Ends with the guarded drop of the legacy tables.

const QUEUE = 'migrate-legacy-flat-fees';
const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');
const config = loadConfig();

async function namespaceRows(knex: Knex, ns: string) {
  const one = async (sql: string) => Number((await knex.raw(sql, { ns })).rows[0].n);
  const underRuns = (table: string) =>
    one(`SELECT count(*) AS n FROM ${table} x JOIN charge_flat_fee_runs r ON r.id = x.run_id WHERE r.namespace = :ns`);
  return {
    charges: one(`SELECT count(*) AS n FROM charge_flat_fees WHERE namespace = :ns AND migrated_to_runs`),
    runs: one(`SELECT count(*) AS n FROM charge_flat_fee_runs WHERE namespace = :ns`),
    chargesWithTwoRuns: one(`SELECT count(*) AS n FROM (SELECT charge_id FROM charge_flat_fee_runs WHERE namespace = :ns GROUP BY 1 HAVING count(*) > 1) d`),
    allocations: underRuns('charge_flat_fee_run_credit_allocations'),
    detailedLines: underRuns('charge_flat_fee_run_detailed_lines'),
    invoicedUsages: underRuns('charge_flat_fee_run_invoiced_usages'),
    payments: underRuns('charge_flat_fee_run_payments'),
  };
}

async function settle<T extends Record<string, Promise<number>>>(rows: T): Promise<Record<keyof T, number>> {
  const out = {} as Record<keyof T, number>;
  for (const key of Object.keys(rows) as (keyof T)[]) out[key] = await rows[key];
  return out;
}

describe('migrate-legacy-flat-fees across a SIGKILLed worker', function () {
  this.timeout(120000);
  const db = useTestDatabase('migrate_legacy_kill', 'legacy');
  const prefix = testPrefix('migrate-kill');
  const queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix, defaultJobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 50 } } });
  let events: QueueEvents;
  const workers: WorkerProcess[] = [];
  const seeded: Record<string, SeedResult> = {};

  const worker = async (fault?: string) => {
    const w = await startWorkerProcess({ databaseUrl: db().url, redisUrl: config.redisUrl, prefix, fault, env: FAST_STALLS });
    workers.push(w);
    return w;
  };

  before(async function () {
    this.timeout(120000);
    // given a populated legacy database, then the schema upgrade
    seeded.k1 = await seedLegacy(db().knex, { charges: 3000, namespaces: ['ns-k1'], seed: 1 });
    seeded.k2 = await seedLegacy(db().knex, { charges: 3000, namespaces: ['ns-k2'], seed: 2 });
    await migrateLatest(db().knex);
    events = new QueueEvents(QUEUE, { connection: redisOptions(config.redisUrl, 'worker'), prefix });
    await events.waitUntilReady();
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  });

  after(async () => {
    await events?.close();
    await queues.close();
    await dropPrefix(prefix);
  });

  const expectFullyMigrated = async (ns: string, seed: SeedResult) => {
    const rows = await settle(await namespaceRows(db().knex, ns));
    expect(rows).to.deep.equal({
      charges: seed.charges,
      runs: seed.charges,
      chargesWithTwoRuns: 0,
      allocations: seed.allocations,
      detailedLines: seed.detailedLines,
      invoicedUsages: seed.invoicedUsages,
      payments: seed.payments,
    });
    expect((await checkAllMigrated(db().knex, { namespace: ns })).ok).to.equal(true);
  };

  it('stops after a batch (SIGKILL at the fault point), resumes in another process with exact counts', async () => {
    // the seeded mix covers every table the migration writes
    expect(seeded.k1.allocations).to.be.greaterThan(1000);
    expect(seeded.k1.payments).to.be.greaterThan(500);
    const first = await worker(`after_batch:${QUEUE}`);
    const job = await queues.enqueue(QUEUE, { namespace: 'ns-k1', batchSize: 250, idempotencyKey: 'kill-k1' });
    await first.nextFault();
    await first.kill();
    const partial = await settle(await namespaceRows(db().knex, 'ns-k1'));
    expect(partial.charges).to.be.within(250, 2750);
    expect(partial.runs).to.equal(partial.charges);
    expect(partial.chargesWithTwoRuns).to.equal(0);

    // the unfinished job's key is taken: the same key with another payload fails before moving anything
    const twin = await queues.enqueue(QUEUE, { namespace: 'ns-k2', idempotencyKey: 'kill-k1' }, { attempts: 1 });
    await worker();
    await expect(twin.waitUntilFinished(events, 30000)).to.be.rejectedWith(/^idempotency_key_conflict: /);
    expect((await settle(await namespaceRows(db().knex, 'ns-k2'))).charges).to.equal(0);
    const result = await job.waitUntilFinished(events, 60000);
    expect(result).to.deep.equal({ dryRun: false, ...seeded.k1, runs: seeded.k1.charges, verified: true });
    await expectFullyMigrated('ns-k1', seeded.k1);
    expect((await queues.queue(QUEUE).getJob(job.id!))!.stalledCounter).to.be.at.least(1);
  });

  it('survives a SIGKILL at a random moment, mid-transaction or not', async () => {
    const first = await worker();
    const job = await queues.enqueue(QUEUE, { namespace: 'ns-k2', batchSize: 100 });
    const stopAt = 300 + Math.floor(Math.random() * 1500);
    for (let i = 0; i < 1000 && (await settle(await namespaceRows(db().knex, 'ns-k2'))).charges < stopAt; i += 1) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await first.kill();
    const partial = await settle(await namespaceRows(db().knex, 'ns-k2'));
    expect(partial.charges, `killed at ${stopAt}`).to.be.within(300, 2999);
    expect(partial.runs).to.equal(partial.charges);

    await worker();
    const result = await job.waitUntilFinished(events, 60000);
    expect(result).to.deep.equal({ dryRun: false, ...seeded.k2, runs: seeded.k2.charges, verified: true });
    await expectFullyMigrated('ns-k2', seeded.k2);
  });

  it('a re-run after completion changes nothing and a dry run finds nothing left', async () => {
    await worker();
    const before = await tableCounts(db().knex);
    const rerun = await queues.enqueue(QUEUE, {});
    expect(await rerun.waitUntilFinished(events, 30000)).to.deep.equal({ dryRun: false, charges: 0, runs: 0, allocations: 0, detailedLines: 0, invoicedUsages: 0, payments: 0, verified: true });
    const dry = await queues.enqueue(QUEUE, { dryRun: true });
    expect(await dry.waitUntilFinished(events, 30000)).to.deep.include({ dryRun: true, charges: 0, allocations: 0, verified: true });
    expect(await tableCounts(db().knex)).to.deep.equal(before);
  });

  it('the migrate-legacy command follows the job with a progress bar and prints the report', async () => {
    await worker();
    await legacyCharge(db().knex, 'ns-cli', { amount_after_proration: '5' });
    const cli = async (...args: string[]) => {
      const child = spawn(process.execPath, [BIN, 'migrate-legacy', ...args], {
        env: { ...process.env, DATABASE_URL: db().url, REDIS_URL: config.redisUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'error' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      return { code, stdout, stderr };
    };
    const dry = await cli('--dry-run', '--namespace', 'ns-cli');
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('would migrate: charges 1, runs 1, allocations 0');
    expect((await db().knex('charge_flat_fees').where({ namespace: 'ns-cli' }).first()).migrated_to_runs).to.equal(false);

    const { code, stdout, stderr } = await cli('--batch-size', '50', '--namespace', 'ns-cli');
    expect(code, stderr).to.equal(0);
    expect(stdout).to.include('migrated: charges 1, runs 1, allocations 0');
    expect(stdout).to.match(/allocations +legacy \d+ rows \/ [\d.]+ +migrated \d+ rows \/ [\d.]+ +ok/);
    expect(stdout).to.match(/verified: true/);
    expect(stderr).to.match(/charges \[.*\] 1\/1 \| \d+ charges\/s \| ETA/);
  });

  it('drop-legacy-tables refuses while a legacy charge is unmigrated, then drops them; the job then has nothing to do', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db().url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'error' } });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
    await legacyCharge(db().knex, 'ns-late');
    const refused = await run(['drop-legacy-tables']);
    expect(refused.code).to.equal(1);
    expect(refused.out).to.include('refusing to drop the legacy tables: 1 legacy charges are not migrated yet');
    expect(await db().knex.schema.hasTable('charge_flat_fee_credit_allocations')).to.equal(true);

    await worker();
    await (await queues.enqueue(QUEUE, { namespace: 'ns-late' })).waitUntilFinished(events, 30000);
    const dropped = await run(['drop-legacy-tables']);
    expect(dropped.code, dropped.out).to.equal(0);
    expect(dropped.out).to.include('dropped: charge_flat_fee_credit_allocations, charge_flat_fee_detailed_line, charge_flat_fee_invoiced_usages, charge_flat_fee_payments');
    for (const table of ['charge_flat_fee_credit_allocations', 'charge_flat_fee_detailed_line', 'charge_flat_fee_invoiced_usages', 'charge_flat_fee_payments']) {
      expect(await db().knex.schema.hasTable(table), table).to.equal(false);
    }
    expect((await run(['drop-legacy-tables'])).out).to.include('the legacy tables are already gone');
    const after = await queues.enqueue(QUEUE, {});
    expect(await after.waitUntilFinished(events, 30000)).to.deep.include({ charges: 0, verified: true });
  });
});
