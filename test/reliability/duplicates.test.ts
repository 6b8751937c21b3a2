import { expect } from 'chai';
import { Job } from 'bullmq';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { enqueueAll, jobsIn, LONG, PlannedJob, seeded, shuffle, waitForFinished, waitForState } from '../helpers/flow';
import { ledgerDiff, modelFigures, readLedger, realizationKey, tableFigures } from '../helpers/ledger-model';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { buildScenario, buildScenarioOfJobs } from '../helpers/scenario';
import { startWorkerProcess, WORKER_MODES, WorkerProcess } from '../helpers/worker-process';

// Duplicates: BullMQ delivers at least once, and upstream producers re-send. Five deliveries of every
// job (distinct job ids, one idempotency key) and a stalled redelivery must leave the ledger of one.

const JOBS = LONG ? 10000 : 2000;
const COPIES = 5;
const SEED = Number(process.env.SEED ?? Date.now() % 1000000);

/**
 * The scenario's jobs in stages whose preconditions the earlier stages meet, so the copies do not
 * spin through precondition retries: this test is about duplicates, crash.test.ts about order.
 */
function stages(jobs: PlannedJob[]): PlannedJob[][] {
  const stageOf = (j: PlannedJob) => {
    if (j.queue === 'create-charge') return 0;
    if (j.queue === 'activate-charge' || j.queue === 'create-invoiced-usage') return 1;
    if (j.queue === 'allocate-credit' || (j.queue === 'payment' && j.data.action === 'authorize')) return 2;
    if (j.queue === 'payment') return 3;
    return 4;
  };
  return [0, 1, 2, 3, 4].map((stage) => jobs.filter((j) => stageOf(j) === stage));
}

/** Every job of a phase five times over, keyed by its original id, in one shuffled heap. */
function deliveries(phase: PlannedJob[], random: () => number): PlannedJob[] {
  const copies = phase.flatMap((job) =>
    Array.from({ length: COPIES }, (_, k) => ({ ...job, data: { ...job.data, idempotencyKey: job.jobId }, jobId: `${job.jobId}-d${k}` })),
  );
  return shuffle(copies, random);
}

for (const mode of WORKER_MODES) describe(`reliability: duplicate deliveries have the effect of one (${mode.label})`, function () {
  this.timeout(LONG ? 600000 : 120000);
  const db = useTestDatabase(`duplicates_${mode.label}`);
  const redisUrl = loadConfig().redisUrl;
  const prefix = testPrefix('dups');
  let queues: FlatFeeQueues;
  let worker: WorkerProcess | null = null;
  const spawn = (fault?: string) => startWorkerProcess({ databaseUrl: db().url, redisUrl, prefix, concurrency: 8, fault, env: mode.env });

  before(() => {
    queues = new FlatFeeQueues({ redisUrl, prefix, defaultJobOptions: { attempts: 40, backoff: { type: 'fixed', delay: 100 }, removeOnComplete: false, removeOnFail: false } });
  });
  // A worker left by a failed test would take the next test's jobs on the same prefix.
  afterEach(async () => {
    await worker?.kill();
    worker = null;
  });
  after(async () => {
    await queues.close();
    await dropPrefix(prefix);
  });

  it(`${JOBS} mixed jobs delivered ${COPIES} times each leave the ledger of one delivery, row for row (seed ${SEED})`, async () => {
    const random = seeded(SEED + 1); // the shuffles; the scenario has its own stream from SEED
    const scenario = buildScenarioOfJobs('ns-dups', JOBS, SEED, undefined);
    const originals = scenario.phases.flat();
    worker = await spawn();

    // Given every job of each phase sent five times, the copies shuffled among each other
    let sent = 0;
    for (const phase of stages(originals)) {
      await enqueueAll(queues, deliveries(phase, random));
      sent += phase.length * COPIES;
      await waitForFinished(queues, sent, { timeoutMs: LONG ? 500000 : 100000 });
    }

    // Then every delivery completed, exactly one per key applied and the others replayed its result
    const completed = (await Promise.all(QUEUE_NAMES.map((q) => jobsIn(queues.queue(q), 'completed')))).flat();
    expect(completed).to.have.length(originals.length * COPIES);
    const byKey = new Map<string, Job[]>();
    for (const job of completed) byKey.set(job.data.idempotencyKey, [...(byKey.get(job.data.idempotencyKey) ?? []), job]);
    expect(byKey.size).to.equal(originals.length);
    for (const [key, jobs] of byKey) {
      const applied = jobs.filter((j) => j.returnvalue.replayed !== true);
      const story = jobs.map((j) => `${j.id}: started ${j.attemptsStarted}, stalled ${j.stalledCounter}, ${JSON.stringify(j.stacktrace)}`).join('; ');
      expect(applied, `applied deliveries of ${key} (${story})`).to.have.length(1);
      for (const replay of jobs.filter((j) => j !== applied[0])) {
        expect(replay.returnvalue).to.deep.equal({ ...applied[0].returnvalue, replayed: true });
      }
    }

    // And the database is the model of a single delivery, row for row and sum for sum
    expect(ledgerDiff(await readLedger(db().knex, scenario.namespace), scenario.expected)).to.deep.equal([]);
    expect(await tableFigures(db().knex, scenario.namespace)).to.deep.equal(modelFigures(scenario.expected, scenario.amounts));
    const keys = await db().knex('flat_fee_idempotency_keys').where({ namespace: scenario.namespace }).count({ n: '*' }).first();
    expect(Number(keys!.n)).to.equal(originals.length);
    await worker.stop();
    worker = null;
  });

  it('a job redelivered after its worker stalled past COMMIT replays and writes nothing more', async () => {
    // Given a charge and a worker that dies right after committing an allocation, before the ack
    const scenario = buildScenario('ns-stall', 1, seeded(1), undefined);
    const chargeId = Object.keys(scenario.expected)[0];
    worker = await spawn();
    const [create] = scenario.phases[0];
    await enqueueAll(queues, [{ ...create, jobId: `stall-${create.jobId}` }]);
    await waitForState(queues.queue('create-charge'), `stall-${create.jobId}`, 'completed');
    await worker.stop();
    worker = await spawn('after_commit:allocate-credit');
    const tg = 'tg-stalled-once';
    const job = await queues.queue('allocate-credit').add('allocate-credit', {
      namespace: 'ns-stall',
      chargeId,
      realizations: [{ type: 'allocation', amount: '12.5', transactionGroupId: tg }],
    });
    const fault = await worker.nextFault();
    expect(fault).to.deep.include({ fault: 'after_commit', jobId: job.id });
    await worker.kill();

    // When a healthy worker finds the job stalled and runs it again
    worker = await spawn();
    await waitForState(queues.queue('allocate-credit'), job.id!, 'completed');

    // Then the second run found the committed key: one realization, the stored result replayed
    const fresh = (await Job.fromId(queues.queue('allocate-credit'), job.id!))!;
    expect(await fresh.getState()).to.equal('completed');
    expect(fresh.attemptsStarted).to.equal(2);
    expect(fresh.returnvalue).to.include({ replayed: true, chargeId });
    const ledger = await readLedger(db().knex, 'ns-stall');
    expect(ledger[chargeId].realizations).to.deep.equal([realizationKey(tg, 'allocation', '12.5')]);
  });
});
