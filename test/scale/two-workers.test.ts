import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import IORedis from 'ioredis';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { dropPrefix } from '../helpers/queue';
import { cliEnv, LongRunning } from '../cli/process';
import { keySlot } from './cluster-slot';

const config = loadConfig();
// LONG=1 runs the heavier variant; the default keeps the suite fast.
const JOBS = process.env.LONG === '1' ? 3000 : 300;

async function allKeys(pattern: string): Promise<string[]> {
  const redis = new IORedis(config.redisUrl);
  const keys: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return keys;
}

describe('scale-out: two worker processes on one queue with a Redis Cluster hash-tag prefix', () => {
  const db = useTestDatabase('scale');
  const tag = `ffwt-scale-${randomBytes(3).toString('hex')}`;
  const prefix = `{${tag}}`;
  const workers: LongRunning[] = [];
  let queues: FlatFeeQueues;

  before(() => {
    queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix });
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await queues.close();
    await dropPrefix(prefix);
  });

  it('processes every job exactly once across both processes, with every key in the tag\'s slot', async function () {
    this.timeout(JOBS * 100 + 60000);
    const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: config.redisUrl, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '4', LOG_LEVEL: 'info' });
    workers.push(new LongRunning(['worker'], env), new LongRunning(['worker'], env));
    await Promise.all(workers.map((w) => w.waitForLine((l) => l.msg === 'worker started')));

    // given JOBS create-charge jobs on one queue, each with its own idempotency key
    const payloads = Array.from({ length: JOBS }, () => chargePayload({ settlementMode: 'invoice_only' }));
    const started = Date.now();
    const jobs = await Promise.all(payloads.map((p) => queues.createCharge(p as never)));
    const ids = new Set(jobs.map((j) => j.id!));

    // when both workers drain the queue
    const queue = queues.queue('create-charge');
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if (counts.completed + counts.failed >= JOBS) break;
      if (Date.now() - started > JOBS * 100 + 30000) throw new Error(`stuck at ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`      two workers × concurrency 4: ${JOBS} jobs in ${seconds.toFixed(2)} s (${(JOBS / seconds).toFixed(0)} jobs/s)\n`);

    // then every job completed once, applied by exactly one process, and wrote exactly one charge and run
    expect(await queue.getJobCounts('completed', 'failed', 'active', 'wait', 'delayed')).to.deep.equal({ completed: JOBS, failed: 0, active: 0, wait: 0, delayed: 0 });
    const outcomes = workers.map((w) => w.lines.filter((l) => l.msg === 'job completed' && l.queue === 'create-charge'));
    const applied = outcomes.flat().map((l) => String(l.jobId));
    expect(outcomes.flat().filter((l) => l.outcome !== 'applied')).to.deep.equal([]);
    expect(applied).to.have.length(JOBS);
    expect(new Set(applied)).to.deep.equal(ids);
    for (const handled of outcomes) expect(handled.length, 'each process takes part').to.be.greaterThan(0);
    const knex = db().knex;
    const [{ charges }] = await knex('charge_flat_fees').where({ namespace: NS }).count({ charges: '*' });
    const [{ runs }] = await knex('charge_flat_fee_runs').where({ namespace: NS }).count({ runs: '*' });
    const perCharge = await knex('charge_flat_fee_runs').select('charge_id').count({ n: '*' }).groupBy('charge_id').havingRaw('count(*) <> 1');
    expect({ charges: Number(charges), runs: Number(runs), chargesWithOtherThanOneRun: perCharge.length }).to.deep.equal({ charges: JOBS, runs: JOBS, chargesWithOtherThanOneRun: 0 });
    const stored = await knex('charge_flat_fees').where({ namespace: NS }).pluck('id');
    expect(new Set(stored)).to.deep.equal(new Set(payloads.map((p) => p.id)));

    // and every key BullMQ wrote lives in the hash tag's slot, as Redis Cluster requires
    const keys = await allKeys(`${prefix}:*`);
    expect(keys.length).to.be.greaterThan(JOBS);
    const slots = new Set(keys.map(keySlot));
    expect([...slots]).to.deep.equal([keySlot(prefix)]);
  });
});
