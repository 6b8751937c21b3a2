import { expect } from 'chai';
import { Job, Worker } from 'bullmq';
import { JobLogWriter } from '../../src/queues/job-log';
import { monitorScripts, useBareQueue } from '../helpers/queue';

// The job log lines of a batch go to Redis in one script call: each line must land on its own job, in
// order, with BullMQ's keepLogs and missing-job rules, and ahead of the job's completion although
// write() does not wait for Redis to answer.

describe('JobLogWriter: the job log lines of a turn of the event loop in one script call', function () {
  this.timeout(20000);
  const name = 'log-test';
  const q = useBareQueue('joblog', name);
  let queue: ReturnType<typeof q>['queue'];
  let events: ReturnType<typeof q>['events'];
  let prefix: string;
  before(() => ({ queue, events, prefix } = q()));

  let failures: string[] = [];
  beforeEach(() => (failures = []));

  /** A writer that records each failed line in `failures`. */
  const recordingWriter = () => new JobLogWriter((job, line, err) => failures.push(`${job.id} ${line}: ${err instanceof Error ? err.message : String(err)}`));

  function startWorker(processor: (job: Job, logs: JobLogWriter) => Promise<unknown>, concurrency = 20): Worker {
    const logs = recordingWriter();
    const worker = q().worker((job) => processor(job, logs), concurrency);
    logs.attach(name, worker.getBackend());
    return worker;
  }

  it('gives each of 20 jobs finishing together exactly its own lines, in order', async () => {
    startWorker(async (job, logs) => {
      await Promise.all([logs.write(job, `first ${job.data.n}`), logs.write(job, `second ${job.data.n}`)]);
      return null;
    });
    const jobs = await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ name, data: { n } })));
    await Promise.all(jobs.map((j) => j.waitUntilFinished(events)));
    for (const j of jobs) {
      const { logs, count } = await queue.getJobLogs(j.id!);
      expect({ logs, count }).to.deep.equal({ logs: [`first ${j.data.n}`, `second ${j.data.n}`], count: 2 });
    }
  });

  it('sends the lines written in one turn as one script call, each to its own job', async () => {
    const logs = recordingWriter();
    logs.attach(name, q().worker(async () => null, 1).getBackend());
    // Delayed: they exist, and no worker takes them while the lines are written.
    const jobs = await queue.addBulk(Array.from({ length: 5 }, (_, n) => ({ name, data: { n }, opts: { delay: 60000 } })));
    const calls: string[][] = [];
    const monitor = await monitorScripts((keys) => {
      if (keys.some((k) => k.endsWith(':logs'))) calls.push(keys);
    });
    try {
      await Promise.all(jobs.map((j) => logs.write(j, `line ${j.data.n}`)));
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      monitor.stop();
    }
    expect(calls).to.deep.equal([jobs.flatMap((j) => [`${prefix}:${name}:${j.id}`, `${prefix}:${name}:${j.id}:logs`])]);
    for (const j of jobs) expect(await queue.getJobLogs(j.id!)).to.deep.equal({ logs: [`line ${j.data.n}`], count: 1 });
    expect(failures).to.deep.equal([]);
    await Promise.all(jobs.map((j) => j.remove()));
  });

  it("keeps only the job's last keepLogs lines, as job.log does", async () => {
    startWorker(async (job, logs) => {
      for (const line of ['a', 'b', 'c']) await logs.write(job, line);
      return null;
    });
    const job = await queue.add(name, {}, { keepLogs: 2 });
    await job.waitUntilFinished(events);
    expect(await queue.getJobLogs(job.id!)).to.deep.equal({ logs: ['b', 'c'], count: 2 });
  });

  it('reports a line for a job that no longer exists as a failure, and writes nothing for it', async () => {
    let outcome: unknown = null;
    startWorker(async (job, logs) => {
      const ghost = new Job(queue, name, {}, {}, 'no-such-job');
      outcome = await logs.write(ghost, 'lost').then(() => 'sent');
      return null;
    });
    const job = await queue.add(name, {});
    await job.waitUntilFinished(events);
    await new Promise((r) => setTimeout(r, 100));
    expect(outcome).to.equal('sent');
    expect(failures).to.deep.equal(['no-such-job lost: job no-such-job is missing (addLog -1)']);
    expect(await queue.getJobLogs('no-such-job')).to.deep.equal({ logs: [], count: 0 });
  });

  it("runs each job's addLog before its completion in Redis, although write() does not wait for the reply", async () => {
    const order: string[] = [];
    const jobKey = new RegExp(`^${prefix}:${name}:(\\d+)$`);
    const monitor = await monitorScripts((keys) => {
      const jobIds = keys.map((k) => jobKey.exec(k)?.[1]).filter((id) => id !== undefined);
      if (jobIds.length === 0) return;
      // The log script: one call for every line of a turn, each line's job key beside its logs key.
      if (keys.some((k) => k.endsWith(':logs'))) for (const id of jobIds) order.push(`log ${id}`);
      // moveToFinished: the only script here with the job's key, the completed set and ten keys more.
      else if (keys.length > 10 && keys.includes(`${prefix}:${name}:completed`)) order.push(`done ${jobIds[0]}`);
    });
    try {
      startWorker(async (job, logs) => {
        await logs.write(job, `line ${job.data.n}`);
        return null;
      });
      const jobs = await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ name, data: { n } })));
      await Promise.all(jobs.map((j) => j.waitUntilFinished(events)));
      await new Promise((r) => setTimeout(r, 100));
      for (const j of jobs) {
        const log = order.indexOf(`log ${j.id}`);
        const done = order.indexOf(`done ${j.id}`);
        expect(log, `addLog of job ${j.id}`).to.be.at.least(0);
        expect(done, `completion of job ${j.id}`).to.be.greaterThan(log);
      }
      expect(failures).to.deep.equal([]);
    } finally {
      monitor.stop();
    }
  });
});
