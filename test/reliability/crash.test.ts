import { expect } from 'chai';
import { Job } from 'bullmq';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES, QueueName } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { enqueueAll, LONG, QueueTally, seeded, shuffle, waitForFinished } from '../helpers/flow';
import { ledgerDiff, modelFigures, readLedger, tableFigures } from '../helpers/ledger-model';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { buildScenario } from '../helpers/scenario';
import { startWorkerProcess, WORKER_MODES, WorkerProcess } from '../helpers/worker-process';

// Crash: worker processes are SIGKILLed while thousands of mixed jobs flow, twice at the exact
// fault points around COMMIT and then at random moments; restarted workers must finish the queue
// with the one ledger an independent model predicts. LONG=1 runs 5x the charges and kills.

const CHARGES = LONG ? 2000 : 400;
const RANDOM_KILLS = LONG ? 12 : 4;
const SEED = Number(process.env.SEED ?? Date.now() % 1000000);

for (const mode of WORKER_MODES) describe(`reliability: SIGKILLed workers lose nothing and apply nothing twice (${mode.label})`, function () {
  this.timeout(LONG ? 900000 : 180000);
  const db = useTestDatabase(`crash_${mode.label}`);
  const redisUrl = loadConfig().redisUrl;
  const prefix = testPrefix('crash');
  let queues: FlatFeeQueues;
  let worker: WorkerProcess | null = null;

  const spawnWorker = (fault?: string) =>
    startWorkerProcess({ databaseUrl: db().url, redisUrl, prefix, concurrency: 8, fault, env: mode.env });

  before(() => {
    queues = new FlatFeeQueues({
      redisUrl,
      prefix,
      // Enough attempts for a precondition to wait out several kills; every finished job kept for the checks.
      defaultJobOptions: { attempts: 80, backoff: { type: 'fixed', delay: 250 }, removeOnComplete: false, removeOnFail: false },
    });
  });

  after(async () => {
    await worker?.kill();
    await queues.close();
    await dropPrefix(prefix);
  });

  const findJob = async (queue: string, id: string) => (await Job.fromId(queues.queue(queue as QueueName), id))!;

  it(`finishes ${CHARGES} charges' jobs across SIGKILLs with the exact model ledger (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const scenario = buildScenario('ns-crash', CHARGES, random, undefined);
    const total = scenario.phases.flat().length;

    // Given a worker that stops just before COMMIT, and one that stops just after it
    worker = await spawnWorker('before_commit');
    await enqueueAll(queues, shuffle(scenario.phases[0], random));
    const keyOf = (jobId: string) => db().knex('flat_fee_idempotency_keys').where({ job_id: jobId });
    const beforeCommit = await worker.nextFault();
    await worker.kill();
    expect(await keyOf(beforeCommit.jobId), 'key of the job killed before COMMIT').to.have.length(0);
    worker = await spawnWorker('after_commit');
    const afterCommit = await worker.nextFault();
    await worker.kill();
    expect(await keyOf(afterCommit.jobId), 'key of the job killed after COMMIT').to.have.length(1);

    // When a plain worker takes over and is killed at random points of the run
    worker = await spawnWorker();
    // Kill points are progress marks (5–90 % of all jobs done), so they all happen however fast the machine is
    const killAt = Array.from({ length: RANDOM_KILLS }, () => Math.floor(total * (0.05 + random() * 0.85))).sort((x, y) => x - y);
    let kills = 0;
    const chaos = async (t: QueueTally) => {
      if (kills >= RANDOM_KILLS || t.completed < killAt[kills]) return;
      await worker!.kill();
      kills += 1;
      worker = await spawnWorker();
    };
    let enqueued = scenario.phases[0].length;
    await waitForFinished(queues, enqueued, { timeoutMs: 120000, onTick: chaos });
    for (const phase of scenario.phases.slice(1)) {
      await enqueueAll(queues, shuffle(phase, random));
      enqueued += phase.length;
      await waitForFinished(queues, enqueued, { timeoutMs: LONG ? 600000 : 120000, onTick: chaos });
    }

    // Then every job completed once, none failed or stuck, and the ledger is the model's
    const done = await waitForFinished(queues, total, { timeoutMs: 10000 });
    expect(kills, 'random kills that happened').to.equal(RANDOM_KILLS);
    expect(done).to.deep.include({ completed: total, failed: 0, active: 0, waiting: 0, delayed: 0 });
    expect(worker.alive).to.equal(true);

    const ledger = await readLedger(db().knex, scenario.namespace);
    expect(ledgerDiff(ledger, scenario.expected)).to.deep.equal([]);
    expect(await tableFigures(db().knex, scenario.namespace)).to.deep.equal(modelFigures(scenario.expected, scenario.amounts));
    const keys = await db().knex('flat_fee_idempotency_keys').count({ n: '*' }).first();
    expect(Number(keys!.n), 'one idempotency record per job').to.equal(total);

    // Both killed jobs ran again and completed; the one killed after COMMIT could only replay
    // (the one killed before COMMIT applied on a later run, which a random kill may have redone too)
    const rolledBack = await findJob(beforeCommit.queue, beforeCommit.jobId);
    expect(rolledBack.attemptsStarted).to.be.at.least(2);
    expect(await rolledBack.getState()).to.equal('completed');
    const committed = await findJob(afterCommit.queue, afterCommit.jobId);
    expect(committed.attemptsStarted).to.be.at.least(2);
    expect(committed.returnvalue.replayed).to.equal(true);
    expect(QUEUE_NAMES).to.include(beforeCommit.queue);
  });
});
