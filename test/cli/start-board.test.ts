import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { ulid } from 'ulid';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { BIN, cliEnv, LongRunning } from './process';

const config = loadConfig();

async function waitForState(queues: FlatFeeQueues, queue: 'create-charge' | 'activate-charge', jobId: string, state: string) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const outcome = await queues.outcome(queue, jobId);
    if (outcome?.state === state) return outcome;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${outcome?.state}, expected ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function basic(user: string, password: string) {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

describe('long-running commands: start serves workers and the board, board alone, JSON job logs', () => {
  const db = useTestDatabase('cli_start');
  const prefix = testPrefix('cli-start');
  const running: LongRunning[] = [];
  let queues: FlatFeeQueues;

  before(() => {
    queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix });
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  });

  after(async () => {
    await queues.close();
    await dropPrefix(prefix);
  });

  const spawnCommand = (command: string, extra: Record<string, string>) => {
    const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: config.redisUrl, QUEUE_PREFIX: prefix, BOARD_PORT: '0', LOG_LEVEL: 'info', ...extra });
    const proc = new LongRunning([command], env);
    running.push(proc);
    return proc;
  };

  it('start: migrates, processes jobs with one JSON log line per outcome, serves the board, stops cleanly on SIGTERM', async function () {
    this.timeout(40000);
    const proc = spawnCommand('start', { BOARD_USER: 'ops', BOARD_PASSWORD: 's3cret', BOARD_HOST: '127.0.0.1' });
    const listening = await proc.waitForLine((l) => l.msg === 'board listening');
    await proc.waitForLine((l) => l.msg === 'worker started');
    expect(proc.lines.find((l) => l.msg === 'schema up to date' || l.msg === 'migrations applied')).to.not.equal(undefined);

    const health = await fetch(new URL('/healthz', listening.url), { headers: basic('ops', 's3cret') });
    expect(health.status).to.equal(200);
    expect((await fetch(new URL('/api/queues', listening.url))).status).to.equal(401);

    const p = chargePayload();
    const good = await queues.createCharge(p as never);
    const missing = ulid();
    const bad = await queues.activateCharge({ namespace: NS, chargeId: missing });
    await waitForState(queues, 'create-charge', good.id!, 'completed');
    await waitForState(queues, 'activate-charge', bad.id!, 'failed');

    const completed = await proc.waitForLine((l) => l.msg === 'job completed' && l.jobId === good.id);
    expect(completed).to.include({ level: 30, queue: 'create-charge', chargeId: p.id, outcome: 'applied', attempt: 1 });
    expect(completed.durationMs).to.be.a('number').and.at.least(0);
    const failed = await proc.waitForLine((l) => l.msg === 'job failed' && l.jobId === bad.id);
    expect(failed).to.include({ level: 50, queue: 'activate-charge', chargeId: missing, errorCode: 'charge_not_found' });
    expect(failed.durationMs).to.be.a('number');
    expect(proc.lines.filter((l) => l.jobId === good.id && l.queue === 'create-charge')).to.have.length(1);
    expect(proc.lines.filter((l) => l.unparsed)).to.deep.equal([]);

    const metrics = await (await fetch(new URL('/metrics', listening.url), { headers: basic('ops', 's3cret') })).text();
    expect(metrics).to.contain('bullmq_job_completed_total{queue="create-charge"} 1\n');
    expect(metrics).to.contain('bullmq_job_failed_total{queue="activate-charge"} 1\n');
    expect(metrics).to.contain('bullmq_job_count{queue="activate-charge", state="failed"} 1\n');

    expect(await proc.stop('SIGTERM')).to.equal(0);
    expect(proc.lines.at(-1)).to.include({ msg: 'stopped' });
  });

  it('board: without credentials binds 127.0.0.1, prints a generated password, and needs it', async function () {
    this.timeout(30000);
    const proc = spawnCommand('board', {});
    const announced = await proc.waitForLine((l) => typeof l.password === 'string');
    expect(announced.user).to.equal('admin');
    expect(announced.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(announced.url)).status).to.equal(401);
    const page = await fetch(announced.url, { headers: basic('admin', announced.password) });
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('<title>flatfee-worker</title>');
    expect(await proc.stop('SIGTERM')).to.equal(0);
  });

  it('logs pretty, human-readable lines when stderr is a terminal', async function () {
    this.timeout(30000);
    // `script` (util-linux) runs the command on a pseudo-terminal, as an operator's shell would.
    const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: config.redisUrl, QUEUE_PREFIX: prefix, BOARD_PORT: '0', LOG_LEVEL: 'info' });
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} board`, '/dev/null'], { env, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let screen = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no pretty log line; got: ${screen}`)), 20000);
        child.stdout!.on('data', (d) => {
          screen += d;
          if (/board listening/.test(screen) && /password/.test(screen)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
    }
    const plain = screen.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).to.match(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(\d+\): board listening/m);
    expect(plain).to.match(/^\s+url: "http:\/\/127\.0\.0\.1:\d+\/"/m);
    expect(plain).to.not.match(/^\{"level"/m);
  });

  it('board: BOARD_READ_ONLY=true refuses writes with 405', async function () {
    this.timeout(30000);
    const proc = spawnCommand('board', { BOARD_USER: 'ops', BOARD_PASSWORD: 's3cret', BOARD_READ_ONLY: 'true' });
    const listening = await proc.waitForLine((l) => l.msg === 'board listening');
    expect(listening.readOnly).to.equal(true);
    const res = await fetch(new URL('/api/queues/create-charge/retry/failed', listening.url), { method: 'PUT', headers: basic('ops', 's3cret') });
    expect(res.status).to.equal(405);
    expect(await proc.stop('SIGTERM')).to.equal(0);
  });
});
