import { expect } from 'chai';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { loadConfig } from '../../src/config';
import { redisOptions } from '../../src/queues/connection';
import { CompletionWrites } from '../../src/queues/completion-writes';
import { dropPrefix, testPrefix } from '../helpers/queue';

// Jobs that finish in the same turn have their completions written to Redis together: one write on
// the worker's socket instead of one per job, with every job completed and its result stored.

const { redisUrl } = loadConfig();

interface Socket {
  _write(chunk: unknown, encoding: string, cb: () => void): void;
  _writev(chunks: unknown[], cb: () => void): void;
}

describe('CompletionWrites: the completions of jobs that finish together leave in one write', function () {
  this.timeout(20000);
  const prefix = testPrefix('completion');
  const name = 'completion-test';
  let queue: Queue;
  let events: QueueEvents;
  let worker: Worker | null = null;

  before(async () => {
    queue = new Queue(name, { connection: redisOptions(redisUrl, 'producer'), prefix });
    events = new QueueEvents(name, { connection: redisOptions(redisUrl, 'worker'), prefix });
    events.setMaxListeners(50);
    queue.setMaxListeners(50);
    await events.waitUntilReady();
  });

  afterEach(async () => {
    await worker?.close();
    worker = null;
  });

  after(async () => {
    await events.close();
    await queue.close();
    await dropPrefix(prefix);
  });

  /** Runs 20 jobs that all finish in one turn; counts the writes on the worker's socket meanwhile. */
  async function finishTogether(completions: CompletionWrites | null): Promise<{ writes: number; commands: number; results: unknown[] }> {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let active = 0;
    let allActive: () => void = () => undefined;
    const twenty = new Promise<void>((r) => (allActive = r));
    worker = new Worker(
      name,
      async (job) => {
        if (++active === 20) allActive();
        await gate;
        completions?.hold(name);
        return { n: job.data.n };
      },
      { connection: redisOptions(redisUrl, 'worker'), prefix, concurrency: 20 },
    );
    completions?.attach(name, worker.getBackend());
    const jobs = await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ name, data: { n } })));
    await twenty;
    const socket = ((await worker.getBackend().client) as unknown as { stream: Socket }).stream;
    let writes = 0;
    let commands = 0;
    const write = socket._write.bind(socket);
    const writev = socket._writev.bind(socket);
    socket._write = (chunk, encoding, cb) => (writes++, commands++, write(chunk, encoding, cb));
    socket._writev = (chunks, cb) => (writes++, (commands += chunks.length), writev(chunks, cb));
    try {
      open();
      await Promise.all(jobs.map((j) => j.waitUntilFinished(events)));
    } finally {
      socket._write = write;
      socket._writev = writev;
    }
    const results = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))?.returnvalue));
    return { writes, commands, results };
  }

  it('without it, each completion is a write of its own', async () => {
    const { writes, commands, results } = await finishTogether(null);
    expect(writes).to.equal(commands);
    expect(commands).to.be.at.least(20);
    expect(results).to.deep.equal(Array.from({ length: 20 }, (_, n) => ({ n })));
  });

  it('with it, the 20 completions leave in one write, and every job is completed with its result', async () => {
    const { writes, commands, results } = await finishTogether(new CompletionWrites());
    expect(writes).to.equal(1);
    expect(commands).to.be.at.least(20);
    expect(results).to.deep.equal(Array.from({ length: 20 }, (_, n) => ({ n })));
  });
});
