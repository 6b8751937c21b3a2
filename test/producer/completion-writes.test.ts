import { expect } from 'chai';
import { CompletionWrites } from '../../src/queues/completion-writes';
import { useBareQueue } from '../helpers/queue';

// Jobs that finish in the same turn have their completions written to Redis together: one write on
// the worker's socket instead of one per job, with every job completed and its result stored.

interface Socket {
  _write(chunk: unknown, encoding: string, cb: () => void): void;
  _writev(chunks: unknown[], cb: () => void): void;
}

describe('CompletionWrites: the completions of jobs that finish together leave in one write', function () {
  this.timeout(20000);
  const q = useBareQueue('completion', 'completion-test');

  /** Runs 20 jobs that all finish in one turn; counts the writes on the worker's socket meanwhile. */
  async function finishTogether(completions: CompletionWrites | null): Promise<{ writes: number; commands: number; results: unknown[] }> {
    const { name, queue, events } = q();
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let active = 0;
    let allActive: () => void = () => undefined;
    const twenty = new Promise<void>((r) => (allActive = r));
    const worker = q().worker(async (job) => {
      if (++active === 20) allActive();
      await gate;
      completions?.hold(name);
      return { n: job.data.n };
    }, 20);
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
