import { expect } from 'chai';
import pino from 'pino';
import { BoardServer, startBoard, BoardOptions } from '../../src/board/server';
import { createKnex } from '../../src/db/knex';
import { loadConfig } from '../../src/config';
import { FlatFeeQueues } from '../../src/queues/producer';
import { QUEUE_NAMES } from '../../src/queues/registry';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { dropPrefix, testPrefix } from '../helpers/queue';

const config = loadConfig();
const USER = 'ops';
const PASSWORD = 'correct horse battery staple';

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

function capturingLogger(lines: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
}

describe('board server: auth, read-only, /healthz and /metrics', () => {
  const db = useTestDatabase('board_server');
  const prefix = testPrefix('board-server');
  const boards: BoardServer[] = [];
  let queues: FlatFeeQueues;

  const start = async (overrides: Partial<BoardOptions> = {}) => {
    const board = await startBoard({
      knex: db().knex,
      logger: pino({ level: 'silent' }),
      redisUrl: config.redisUrl,
      prefix,
      port: 0,
      host: '127.0.0.1',
      user: USER,
      password: PASSWORD,
      readOnly: false,
      ...overrides,
    });
    boards.push(board);
    return board;
  };
  const get = (board: BoardServer, path: string, headers: Record<string, string> = {}) => fetch(new URL(path, board.url), { headers });

  before(async () => {
    queues = new FlatFeeQueues({ redisUrl: config.redisUrl, prefix });
    await queues.createCharge(chargePayload() as never);
    await queues.createCharge(chargePayload() as never);
  });

  after(async () => {
    await Promise.all(boards.map((b) => b.close()));
    await queues.close();
    await dropPrefix(prefix);
  });

  it('answers 401 with a Basic challenge on every path, the API and health endpoints included', async () => {
    const board = await start();
    for (const path of ['/', '/queue/create-charge', '/api/queues', '/healthz', '/metrics', '/static/nothing.js']) {
      for (const headers of [{}, basic(USER, 'wrong'), basic('someone', PASSWORD), { authorization: 'Bearer x' }]) {
        const res = await get(board, path, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Basic realm="flatfee-worker"/);
      }
    }
  });

  it('serves the board and its API with the right credentials, listing every queue', async () => {
    const board = await start();
    const page = await get(board, '/', basic(USER, PASSWORD));
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('<title>flatfee-worker</title>');
    const api = (await (await get(board, '/api/queues', basic(USER, PASSWORD))).json()) as { queues: { name: string; counts: Record<string, number> }[] };
    expect(api.queues.map((q) => q.name).sort()).to.deep.equal([...QUEUE_NAMES].sort());
    expect(api.queues.find((q) => q.name === 'create-charge')!.counts.waiting).to.equal(2);
  });

  it('reports Redis and Postgres reachable on /healthz', async () => {
    const board = await start();
    const res = await get(board, '/healthz', basic(USER, PASSWORD));
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok', redis: 'ok', postgres: 'ok' });
  });

  it('answers 503 on /healthz naming what is unreachable', async function () {
    this.timeout(10000);
    const deadKnex = createKnex({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none' });
    try {
      const board = await start({ knex: deadKnex, redisUrl: 'redis://127.0.0.1:1' });
      const res = await get(board, '/healthz', basic(USER, PASSWORD));
      expect(res.status).to.equal(503);
      const body = (await res.json()) as Record<string, string>;
      expect(body.status).to.equal('unavailable');
      expect(body.redis).to.not.equal('ok');
      expect(body.postgres).to.not.equal('ok');
    } finally {
      await deadKnex.destroy();
    }
  });

  it('exports Prometheus metrics for every queue with each HELP/TYPE header once', async () => {
    const board = await start();
    const res = await get(board, '/metrics', basic(USER, PASSWORD));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await res.text();
    expect(text).to.contain('bullmq_job_count{queue="create-charge", state="waiting"} 2');
    for (const queue of QUEUE_NAMES) expect(text).to.contain(`bullmq_job_completed_total{queue="${queue}"}`);
    const helps = text.split('\n').filter((l) => l.startsWith('# HELP '));
    expect(helps).to.have.length(new Set(helps).size);
    expect(helps.filter((h) => h.startsWith('# HELP bullmq_'))).to.have.length(3);
    // The process registry comes first: process metrics under our prefix (observability/metrics.ts).
    expect(text).to.match(/^# HELP flatfee_process_cpu_user_seconds_total /m);
    expect(helps.every((h) => /^# HELP (bullmq|flatfee)_/.test(h))).to.equal(true);
  });

  it('refuses writes with 405 in read-only mode and allows them otherwise', async () => {
    const readOnly = await start({ readOnly: true });
    const writable = await start();
    const retryAll = (board: BoardServer) =>
      fetch(new URL('/api/queues/create-charge/retry/failed', board.url), { method: 'PUT', headers: basic(USER, PASSWORD) });
    expect((await retryAll(readOnly)).status).to.equal(405);
    expect((await retryAll(writable)).status).to.equal(200);
  });

  it('without configured credentials listens on 127.0.0.1 only and logs a generated password that works', async () => {
    const lines: Record<string, unknown>[] = [];
    const board = await start({ user: undefined, password: undefined, host: '0.0.0.0', logger: capturingLogger(lines) });
    expect(board.host).to.equal('127.0.0.1');
    expect(board.credentials.generated).to.equal(true);
    const announced = lines.find((l) => typeof l.password === 'string')!;
    expect(announced).to.include({ user: 'admin', url: board.url });
    expect(String(announced.password)).to.have.length.greaterThan(20);
    expect((await get(board, '/api/queues')).status).to.equal(401);
    expect((await get(board, '/api/queues', basic('admin', String(announced.password)))).status).to.equal(200);
    expect(lines.some((l) => String(l.msg).startsWith('BOARD_HOST ignored'))).to.equal(true);
  });

  it('fails to start with the listen error when the port is taken', async () => {
    const first = await start();
    await expect(start({ port: first.port })).to.be.rejectedWith(/EADDRINUSE/);
  });

  it('refuses half a credential pair instead of generating a password', async () => {
    await expect(start({ password: undefined })).to.be.rejectedWith('set both BOARD_USER and BOARD_PASSWORD, or neither');
  });
});
