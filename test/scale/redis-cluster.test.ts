import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Cluster } from 'ioredis';
import { Queue } from 'bullmq';
import { clusterModeFrom, hasHashTag, redisOptions, useRedisCluster } from '../../src/queues/connection';
import { FlatFeeQueues } from '../../src/queues/producer';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { cliEnv, LongRunning, runCli } from '../cli/process';
import { OneNodeCluster } from './one-node-cluster';

const JOBS = process.env.LONG === '1' ? 1000 : 60;

describe('Redis Cluster: hash-tag prefix and REDIS_CLUSTER=true worker processes', () => {
  const db = useTestDatabase('redis_cluster');
  const prefix = `{ffwt-${randomBytes(3).toString('hex')}}`;
  let cluster: OneNodeCluster;
  const clients: Cluster[] = [];
  const producers: FlatFeeQueues[] = [];
  const workers: LongRunning[] = [];

  before(async function () {
    this.timeout(30000);
    cluster = await OneNodeCluster.start();
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await Promise.all(producers.map((p) => p.close()));
    clients.forEach((c) => c.disconnect());
    await cluster?.stop();
  });

  const producer = (queuePrefix: string) => {
    const client = cluster.client('producer');
    clients.push(client);
    const queues = new FlatFeeQueues({ connection: client, prefix: queuePrefix });
    producers.push(queues);
    return queues;
  };

  it('refuses a prefix without a hash tag (CROSSSLOT) and accepts one with it', async () => {
    await expect(producer('bull').createCharge(chargePayload() as never)).to.be.rejectedWith(/CROSSSLOT/);
    const job = await producer(`{ffwt-probe-${randomBytes(3).toString('hex')}}`).createCharge(chargePayload() as never);
    expect(job.id).to.equal('1');
  });

  it('REDIS_CLUSTER mode gives every BullMQ connection a cluster client built from REDIS_URL', async () => {
    const restore = useRedisCluster();
    const queue = new Queue('create-charge', { connection: redisOptions(cluster.url, 'producer'), prefix });
    try {
      const job = await queue.add('create-charge', { probe: true });
      expect((await queue.getBackend().client).isCluster).to.equal(true);
      await job.remove();
    } finally {
      await queue.close();
      restore();
    }
    expect(clusterModeFrom({ REDIS_CLUSTER: 'true' })).to.equal(true);
    expect(clusterModeFrom({})).to.equal(false);
  });

  it('refuses to start in cluster mode with a prefix that has no hash tag', async () => {
    expect(['{flatfee}', 'app:{ff}', '{a}b'].map(hasHashTag)).to.deep.equal([true, true, true]);
    expect(['bull', '{}', '}{', 'x{'].map(hasHashTag)).to.deep.equal([false, false, false, false]);
    const res = await runCli(['worker'], cliEnv({ REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'bull' }));
    expect(res.code).to.equal(1);
    expect(res.stderr).to.contain('error: REDIS_CLUSTER=true needs a QUEUE_PREFIX with a hash tag such as {flatfee}, got "bull"');
  });

  it('runs two worker processes against the cluster: every job applied exactly once, and the CLI reads it', async function () {
    this.timeout(JOBS * 200 + 60000);
    const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '4', LOG_LEVEL: 'info' });
    workers.push(new LongRunning(['worker'], env), new LongRunning(['worker'], env));
    await Promise.all(workers.map((w) => w.waitForLine((l) => l.msg === 'worker started')));

    const queues = producer(prefix);
    const payloads = Array.from({ length: JOBS }, () => chargePayload({ settlementMode: 'invoice_only' }));
    const jobs = await Promise.all(payloads.map((p) => queues.createCharge(p as never)));
    const queue = queues.queue('create-charge');
    const deadline = Date.now() + JOBS * 200 + 30000;
    while ((await queue.getJobCounts('completed')).completed < JOBS) {
      if (Date.now() > deadline) throw new Error(`stuck at ${JSON.stringify(await queue.getJobCounts())}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    expect(await queue.getJobCounts('completed', 'failed', 'active', 'wait')).to.deep.equal({ completed: JOBS, failed: 0, active: 0, wait: 0 });
    const applied = workers.flatMap((w) => w.lines.filter((l) => l.msg === 'job completed')).map((l) => `${l.jobId}:${l.outcome}`);
    expect(applied.sort()).to.deep.equal(jobs.map((j) => `${j.id}:applied`).sort());
    const [{ n }] = await db().knex('charge_flat_fees').where({ namespace: NS }).count({ n: '*' });
    expect(Number(n)).to.equal(JOBS);

    const listed = await runCli(['jobs', 'create-charge', '--limit', '5', '--json'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(JSON.parse(listed.stdout).map((j: { state: string }) => j.state)).to.deep.equal(Array(5).fill('completed'));
  });
});
