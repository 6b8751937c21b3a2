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

  /**
   * Runs 20 jobs that all finish in one turn and records the writes on the worker's socket meanwhile.
   * Only the writes that carry a completion count: the worker also asks for more work on this socket
   * (a moveToActive) whenever its loop gets to it, and that is not what is held.
   */
  async function finishTogether(completions: CompletionWrites | null): Promise<{ completionWrites: number[]; results: unknown[] }> {
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
    // How many completions each write carries; a completion is the only command with a job's result in it.
    const completionWrites: number[] = [];
    const record = (chunks: unknown[]) => {
      const carried = chunks.filter((c) => String(c).includes('{"n":')).length;
      if (carried) completionWrites.push(carried);
    };
    const write = socket._write.bind(socket);
    const writev = socket._writev.bind(socket);
    socket._write = (chunk, encoding, cb) => (record([chunk]), write(chunk, encoding, cb));
    socket._writev = (chunks, cb) => (record(chunks.map((c) => (c as { chunk: unknown }).chunk)), writev(chunks, cb));
    try {
      open();
      await Promise.all(jobs.map((j) => j.waitUntilFinished(events)));
    } finally {
      socket._write = write;
      socket._writev = writev;
    }
    const results = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))?.returnvalue));
    return { completionWrites, results };
  }

  it('without it, each completion is a write of its own', async () => {
    const { completionWrites, results } = await finishTogether(null);
    expect(completionWrites).to.deep.equal(Array.from({ length: 20 }, () => 1));
    expect(results).to.deep.equal(Array.from({ length: 20 }, (_, n) => ({ n })));
  });

  it('with it, the 20 completions leave in one write, and every job is completed with its result', async () => {
    const { completionWrites, results } = await finishTogether(new CompletionWrites());
    expect(completionWrites).to.deep.equal([20]);
    expect(results).to.deep.equal(Array.from({ length: 20 }, (_, n) => ({ n })));
  });
});
