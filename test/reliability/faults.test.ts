import { expect } from 'chai';
import { Job } from 'bullmq';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { enqueueAll, jobsIn, LONG, PlannedJob, seeded, shuffle, tally, waitForFinished, whileFlowing } from '../helpers/flow';
import { ledgerDiff, modelFigures, readLedger, tableFigures } from '../helpers/ledger-model';
import { PrivateRedis } from '../helpers/private-redis';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { buildScenario, Scenario } from '../helpers/scenario';
import IORedis from 'ioredis';
import { startWorkerProcess, WORKER_MODES, WorkerProcess } from '../helpers/worker-process';

// Faults: the database drops the worker's connections mid-transaction and Redis dies and comes
// back while jobs flow. The same worker process must ride both out on its own, retry what failed
// and end with the model ledger: nothing half-written, nothing lost.

const CHARGES = LONG ? 800 : 120;
const SEED = Number(process.env.SEED ?? Date.now() % 1000000);
const JOB_DEFAULTS = { attempts: 60, backoff: { type: 'fixed' as const, delay: 100 }, removeOnComplete: false, removeOnFail: false };
const FAULT_MESSAGE = /terminat|not queryable|Connection ended|ECONNRESET/i;

async function expectModelLedger(knex: Parameters<typeof readLedger>[0], scenario: Scenario): Promise<void> {
  expect(ledgerDiff(await readLedger(knex, scenario.namespace), scenario.expected)).to.deep.equal([]);
  expect(await tableFigures(knex, scenario.namespace)).to.deep.equal(modelFigures(scenario.expected, scenario.amounts));
}

/** Completed jobs that failed at least once on a lost connection before succeeding. */
async function retriedAfterFault(queues: FlatFeeQueues): Promise<Job[]> {
  const completed = (await Promise.all(QUEUE_NAMES.map((q) => jobsIn(queues.queue(q), 'completed')))).flat();
  return completed.filter((j) => (j.stacktrace ?? []).some((s) => FAULT_MESSAGE.test(s)));
}

/** Producers fail fast while Redis is away (SPEC connection policy): the caller retries the add. */
async function addOnceReconnected(queues: FlatFeeQueues, job: PlannedJob): Promise<Job> {
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      return await queues.queue(job.queue).add(job.queue, job.data, { jobId: job.jobId });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * After a Redis fault: a new charge's first job is added (retried while the producer reconnects) and
 * must finish together with everything in flight (phases 0 and 1); then phase 2 and the new charge's
 * rest are sent. The new charge joins the expected ledger. Returns the late job's final state, how long
 * it took from its enqueue to its finish, and how many jobs were sent in all.
 */
async function lateChargeAfterFault(queues: FlatFeeQueues, scenario: Scenario, random: () => number): Promise<{ lateState: string; lateMs: number; sent: number }> {
  const extra = buildScenario(scenario.namespace, 1, random, undefined);
  const late = { ...extra.phases[0][0], jobId: `late-${extra.phases[0][0].jobId}` };
  const lateJob = await addOnceReconnected(queues, late);
  let sent = scenario.phases[0].length + scenario.phases[1].length + 1;
  await waitForFinished(queues, sent, { timeoutMs: 60000 });
  const lateState = await lateJob.getState();
  const lateMs = (await Job.fromId(queues.queue(late.queue), late.jobId))!.finishedOn! - lateJob.timestamp;
  const rest = [...scenario.phases[2], ...extra.phases[1].map((j) => ({ ...j, jobId: `late-${j.jobId}` }))];
  await enqueueAll(queues, rest);
  sent += rest.length;
  Object.assign(scenario.expected, extra.expected);
  Object.assign(scenario.amounts, extra.amounts);
  return { lateState, lateMs, sent };
}

/** Everything sent finished once, the late job within 5 s, all by the same worker process; the ledger is exact. */
async function expectRecovered(
  queues: FlatFeeQueues,
  worker: WorkerProcess,
  pid: number,
  scenario: Scenario,
  late: { lateState: string; lateMs: number; sent: number },
  knex: Parameters<typeof readLedger>[0],
): Promise<void> {
  const done = await waitForFinished(queues, late.sent, { timeoutMs: 60000 });
  expect(late.lateState).to.equal('completed');
  expect(late.lateMs, 'ms from adding the late job to its completion').to.be.below(5000);
  expect(done).to.deep.include({ completed: late.sent, failed: 0, active: 0 });
  expect(worker.alive, worker.recentLog()).to.equal(true);
  expect(worker.pid).to.equal(pid);
  await expectModelLedger(knex, scenario);
}

for (const mode of WORKER_MODES) describe(`reliability: database and Redis faults while jobs flow (${mode.label})`, function () {
  this.timeout(LONG ? 600000 : 120000);
  const db = useTestDatabase(`faults_${mode.label}`);
  let worker: WorkerProcess | null = null;
  let queues: FlatFeeQueues | null = null;
  let redis: PrivateRedis | null = null;
  let prefix: string | null = null;

  afterEach(async () => {
    await worker?.kill();
    await queues?.close();
    if (prefix && !redis) await dropPrefix(prefix);
    await redis?.stop();
    worker = queues = redis = prefix = null;
  });

  it(`survives pg_terminate_backend on its sessions mid-transaction (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const redisUrl = loadConfig().redisUrl;
    prefix = testPrefix('pgkill');
    queues = new FlatFeeQueues({ redisUrl, prefix, defaultJobOptions: JOB_DEFAULTS });
    const scenario = buildScenario('ns-pgkill', CHARGES, random, undefined);
    worker = await startWorkerProcess({ databaseUrl: db().url, redisUrl, prefix, concurrency: 8, env: mode.env });
    const pid = worker.pid;

    // Given half of the worker's sessions terminated every 100 ms: idle in the pool, idle in a transaction, mid-statement
    let terminated = 0;
    const terminate = async () => {
      const { rows } = await db().knex.raw(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'flatfee-worker'
            AND state IN ('idle', 'idle in transaction', 'active') AND random() < 0.5`,
      );
      terminated += rows.filter((r: { ok: boolean }) => r.ok).length;
    };
    let sent = 0;
    for (const phase of scenario.phases) {
      await enqueueAll(queues, shuffle(phase, random));
      sent += phase.length;
      await waitForFinished(queues, sent, { timeoutMs: 100000, onTick: terminate });
    }

    // Then the same process finished everything, the killed transactions were retried, the ledger is exact
    const done = await waitForFinished(queues, sent, { timeoutMs: 5000 });
    expect(done).to.deep.include({ completed: sent, failed: 0, active: 0 });
    expect(worker.alive, worker.recentLog()).to.equal(true);
    expect(worker.pid).to.equal(pid);
    expect(terminated, 'sessions terminated').to.be.greaterThan(0);
    // A lost connection is redone by the engine itself, and after three failures by BullMQ: both count.
    const retried = await retriedAfterFault(queues);
    const redone = worker.logged('batch met a database fault; redoing it on a fresh connection');
    expect(retried.length + redone, 'batches redone or jobs retried after a lost connection').to.be.greaterThan(0);
    await expectModelLedger(db().knex, scenario);
    process.stderr.write(`      ${sent} jobs, ${terminated} sessions terminated, ${redone} batches redone by the engine, ${retried.length} jobs retried by BullMQ\n`);
  });

  it(`survives a Redis restart while jobs flow and serves new jobs within 5 s (seed ${SEED})`, async () => {
    const random = seeded(SEED + 1);
    redis = await PrivateRedis.start({ durable: true });
    prefix = testPrefix('redis');
    queues = new FlatFeeQueues({ redisUrl: redis.url, prefix, defaultJobOptions: JOB_DEFAULTS });
    for (const name of QUEUE_NAMES) queues.queue(name).on('error', () => {}); // the outage is the point
    const scenario = buildScenario('ns-redis', CHARGES, random, undefined);
    worker = await startWorkerProcess({ databaseUrl: db().url, redisUrl: redis.url, prefix, concurrency: 8, env: mode.env });
    const pid = worker.pid;
    await enqueueAll(queues, scenario.phases[0]);
    await waitForFinished(queues, scenario.phases[0].length, { timeoutMs: 60000 });

    // Given Redis SIGKILLed while the realizations are in flight, down for 2 s, then back
    const before = await tally(queues);
    await enqueueAll(queues, shuffle(scenario.phases[1], random));
    const inFlight = await whileFlowing(queues, before.completed);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 2000));
    await redis.restart();

    // When a new charge is created after the restart, it completes within 5 s without restarting the worker
    const late = await lateChargeAfterFault(queues, scenario, random);
    const { lateMs, sent } = late;

    // Then everything completed once, by the same process, and the ledger is exact
    expect(inFlight.waiting + inFlight.active, 'jobs pending when Redis died').to.be.greaterThan(0);
    await expectRecovered(queues, worker, pid, scenario, late, db().knex);
    const replayed = (await Promise.all(QUEUE_NAMES.map((q) => jobsIn(queues!.queue(q), 'completed')))).flat().filter((j) => j.returnvalue?.replayed).length;
    process.stderr.write(`      ${sent} jobs across a 2 s Redis outage (${inFlight.waiting + inFlight.active} pending at the kill, ${replayed} redelivered and replayed); a job added after the restart completed in ${lateMs} ms\n`);
  });
  /** Runs every phase of the scenario, each after the previous one finished; returns the jobs sent. */
  async function runPhases(q: FlatFeeQueues, scenario: Scenario, random: () => number): Promise<number> {
    let sent = 0;
    for (const phase of scenario.phases) {
      await enqueueAll(q, shuffle(phase, random));
      sent += phase.length;
      await waitForFinished(q, sent, { timeoutMs: 60000 });
    }
    return sent;
  }

  it(`starts while Redis is down and serves jobs once it is up, without a restart (seed ${SEED})`, async () => {
    const random = seeded(SEED + 2);
    redis = await PrivateRedis.start();
    await redis.kill();
    prefix = testPrefix('redis-late');

    // Given a worker started while nothing listens on its Redis port
    worker = new WorkerProcess({ databaseUrl: db().url, redisUrl: redis.url, prefix, concurrency: 8, env: mode.env });
    const pid = worker.pid;
    await new Promise((r) => setTimeout(r, 2000));
    const aliveWhileDown = worker.alive;
    const startedWhileDown = worker.recentLog().includes('"worker started"');

    // When Redis comes up
    await redis.restart();
    const upAt = Date.now();
    await worker.ready(20000);
    const startedMs = Date.now() - upAt;
    queues = new FlatFeeQueues({ redisUrl: redis.url, prefix, defaultJobOptions: JOB_DEFAULTS });
    const scenario = buildScenario('ns-redis-late', 20, random, undefined);
    const sent = await runPhases(queues, scenario, random);

    // Then the same process waited, started within seconds and applied everything exactly once
    expect(aliveWhileDown, worker.recentLog()).to.equal(true);
    expect(startedWhileDown, 'worker reported started with no Redis').to.equal(false);
    expect(startedMs, 'ms from Redis up to "worker started"').to.be.below(5000);
    const t = await tally(queues);
    expect(t).to.deep.include({ completed: sent, failed: 0, active: 0 });
    expect(worker.pid).to.equal(pid);
    await expectModelLedger(db().knex, scenario);
    process.stderr.write(`      worker started ${startedMs} ms after Redis came up; ${sent} jobs then completed\n`);
  });

  it(`rides out CLIENT KILL of every Redis connection while jobs flow (seed ${SEED})`, async () => {
    const random = seeded(SEED + 3);
    redis = await PrivateRedis.start();
    prefix = testPrefix('redis-kill');
    queues = new FlatFeeQueues({ redisUrl: redis.url, prefix, defaultJobOptions: JOB_DEFAULTS });
    for (const name of QUEUE_NAMES) queues.queue(name).on('error', () => {}); // the kill is the point
    worker = await startWorkerProcess({ databaseUrl: db().url, redisUrl: redis.url, prefix, concurrency: 8, env: mode.env });
    const pid = worker.pid;
    const scenario = buildScenario('ns-redis-kill', CHARGES, random, undefined);
    await enqueueAll(queues, scenario.phases[0]);
    await waitForFinished(queues, scenario.phases[0].length, { timeoutMs: 60000 });

    // Given every client connection (the worker's blocking and command connections, the producer's)
    // killed by the server while the realizations are in flight
    const before = await tally(queues);
    const admin = new IORedis(redis.url);
    let killed: number;
    try {
      await admin.ping();
      await enqueueAll(queues, shuffle(scenario.phases[1], random));
      const inFlight = await whileFlowing(queues, before.completed);
      expect(inFlight.waiting + inFlight.active, 'jobs pending at the kill').to.be.greaterThan(0);
      killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    } finally {
      admin.disconnect();
    }

    // When a new charge is created right after
    const late = await lateChargeAfterFault(queues, scenario, random);
    const { lateMs, sent } = late;

    // Then it completes within 5 s, by the same process, and the ledger is exact
    expect(killed, 'connections killed').to.be.greaterThan(2);
    await expectRecovered(queues, worker, pid, scenario, late, db().knex);
    process.stderr.write(`      ${killed} connections killed with ${sent} jobs flowing; a job added right after completed in ${lateMs} ms\n`);
  });
});
