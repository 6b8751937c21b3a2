import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import pino from 'pino';
import { ulid } from 'ulid';
import { loadConfig } from '../../src/config';
import { startBoard } from '../../src/board/server';
import { FlatFeeQueues } from '../../src/queues/producer';
import { ServiceUnavailableError } from '../../src/queues/unavailable';
import { urlFor, useTestDatabase } from '../helpers/db';
import { freePort, PrivateRedis } from '../helpers/private-redis';
import { cliEnv, LongRunning, runCli } from './process';

// Issue 20 item 1 (RELIABILITY 20): with Redis or PostgreSQL unreachable, one-shots and the producer
// fail within 10 s with one line naming the service, never a hang or a stack; the long-running
// commands wait for Redis with one line per backoff step, /healthz answers 503, and they recover.

const config = loadConfig();
const NO_STACK = /^\s+at /m;

describe('dependencies down at the edges', function () {
  this.timeout(60000);
  const db = useTestDatabase('deps_down');
  let deadRedis: string;
  let deadPg: string;

  before(async () => {
    deadRedis = `redis://127.0.0.1:${await freePort()}`;
    deadPg = `postgres://postgres@127.0.0.1:${await freePort()}/flatfee`;
  });

  it('enqueue and jobs with Redis unreachable: exit 1 within 10 s, one line naming Redis and its address', async () => {
    const port = new URL(deadRedis).port;
    const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: deadRedis });
    for (const args of [['enqueue', 'activate-charge', JSON.stringify({ namespace: 'ns', chargeId: ulid() })], ['jobs', 'payment'], ['migrate-legacy']]) {
      const started = Date.now();
      const out = await runCli(args, env);
      expect(Date.now() - started, args[0]).to.be.below(10000);
      expect(out.code, args[0]).to.equal(1);
      expect(out.stdout, args[0]).to.equal('');
      expect(out.stderr, args[0]).to.match(new RegExp(`^error: Redis unreachable at 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n$`));
    }
  });

  it('the producer client throws a typed ServiceUnavailableError within its deadline', async () => {
    const client = new FlatFeeQueues({ redisUrl: deadRedis, redisTimeoutMs: 2000 });
    const started = Date.now();
    try {
      const err = await client.activateCharge({ namespace: 'ns', chargeId: ulid() }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ServiceUnavailableError);
      expect(err).to.deep.include({ code: 'service_unavailable', service: 'Redis', address: `127.0.0.1:${new URL(deadRedis).port}` });
      expect(Date.now() - started).to.be.below(5000);
    } finally {
      await client.close();
    }
  });

  it('PostgreSQL unreachable: balance, start and worker exit 1 with one line naming PostgreSQL', async () => {
    const port = new URL(deadPg).port;
    for (const args of [['balance', 'acme', 'cust', 'USD'], ['start'], ['worker']]) {
      const started = Date.now();
      const out = await runCli(args, cliEnv({ DATABASE_URL: deadPg, REDIS_URL: config.redisUrl, BOARD_PORT: '0' }));
      expect(Date.now() - started, args[0]).to.be.below(10000);
      expect(out.code, args[0]).to.equal(1);
      expect(out.stderr, args[0]).not.to.match(NO_STACK);
      expect(out.stderr.trim().split('\n').pop(), args[0]).to.match(new RegExp(`^error: PostgreSQL unreachable at 127\\.0\\.0\\.1:${port}/flatfee: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
    }
  });

  it('a missing database: one line for a one-shot; migrate creates it', async () => {
    const name = `ffw_t_missing_${randomBytes(4).toString('hex')}`;
    const env = cliEnv({ DATABASE_URL: urlFor(name), REDIS_URL: config.redisUrl });
    const balance = await runCli(['balance', 'acme', 'cust', 'USD'], env);
    expect(balance.code).to.equal(1);
    expect(balance.stderr).to.equal(`error: PostgreSQL unreachable at 127.0.0.1:5432/${name}: database "${name}" does not exist (\`flatfee-worker migrate\` creates it)\n`);

    const migrate = await runCli(['migrate'], env);
    expect(migrate.code, migrate.stderr).to.equal(0);
    expect(migrate.stdout).to.match(/^applied: 20260101000000_legacy_flat_fees\.ts, /);
    const admin = knexFactory({ client: 'pg', connection: urlFor('postgres'), pool: { min: 0, max: 1 } });
    try {
      expect((await admin.raw('SELECT datname FROM pg_database WHERE datname = ?', [name])).rows).to.deep.equal([{ datname: name }]);
      await admin.raw(`DROP DATABASE "${name}" WITH (FORCE)`);
    } finally {
      await admin.destroy();
    }
  });

  it("the board's /api/queues answers 503 at once with Redis down", async () => {
    const board = await startBoard({ knex: db().knex, logger: pino({ level: 'silent' }), redisUrl: deadRedis, prefix: 'ffwt-deps', port: 0, host: '127.0.0.1', user: 'u', password: 'p', readOnly: true });
    try {
      const headers = { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` };
      const started = Date.now();
      const res = await fetch(new URL('/api/queues', board.url), { headers, signal: AbortSignal.timeout(5000) });
      expect(res.status).to.equal(503);
      expect(await res.json()).to.have.property('error').that.matches(/^Redis unreachable at 127\.0\.0\.1:\d+ /);
      expect(Date.now() - started).to.be.below(2000);
      const health = await fetch(new URL('/healthz', board.url), { headers, signal: AbortSignal.timeout(5000) });
      expect(health.status).to.equal(503);
    } finally {
      await board.close();
    }
  });

  it('start with Redis down: one line per backoff step, /healthz 503, then recovers on its own', async () => {
    // Given a Redis that is down when start runs
    const redis = await PrivateRedis.start();
    await redis.kill();
    const proc = new LongRunning(['start'], cliEnv({ DATABASE_URL: db().url, REDIS_URL: redis.url, QUEUE_PREFIX: `ffwt-deps-${randomBytes(3).toString('hex')}`, BOARD_PORT: '0', BOARD_USER: 'u', BOARD_PASSWORD: 'p', BOARD_HOST: '127.0.0.1', LOG_LEVEL: 'info' }));
    try {
      const listening = await proc.waitForLine((l) => l.msg === 'board listening');
      const waiting = await proc.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('waiting for Redis'));
      expect(waiting.msg).to.equal(`waiting for Redis at 127.0.0.1:${redis.port} (connect ECONNREFUSED 127.0.0.1:${redis.port}), retrying in 2 s`);
      const headers = { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` };
      expect((await fetch(new URL('/healthz', listening.url), { headers })).status).to.equal(503);
      expect(proc.lines.filter((l) => l.level >= 50)).to.deep.equal([]);

      // When Redis comes back, the workers start without a restart
      await redis.restart();
      await proc.waitForLine((l) => l.msg === 'worker started', 40000);
      expect((await fetch(new URL('/healthz', listening.url), { headers })).status).to.equal(200);
      expect(await proc.stop('SIGTERM')).to.equal(0);
    } finally {
      await proc.stop('SIGKILL');
      await redis.stop();
    }
  });
});
