import type { AddressInfo } from 'node:net';
import { createServer, Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { redisOptions } from '../queues/connection';
import { QUEUE_NAMES } from '../queues/registry';
import { addressOf } from '../queues/unavailable';
import IORedis from 'ioredis';
import { basicAuth, BoardCredentials, resolveCredentials } from './auth';
import { chargeExplorer } from './charges/routes';
import { checkHealth } from './health';
import { prometheusMetrics } from './metrics';
import { enableProcessMetrics } from '../observability/metrics';

export interface BoardOptions {
  knex: Knex;
  logger: Logger;
  redisUrl: string;
  prefix: string;
  port: number;
  /** Interface to listen on when credentials are configured; ignored (127.0.0.1) when they are not. */
  host?: string;
  user?: string;
  password?: string;
  readOnly: boolean;
  queueNames?: readonly string[];
}

export interface BoardServer {
  url: string;
  host: string;
  port: number;
  credentials: BoardCredentials;
  close(): Promise<void>;
}

export function boardOptionsFrom(config: Config, knex: Knex, logger: Logger): BoardOptions {
  return {
    knex,
    logger,
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    port: config.boardPort,
    host: config.boardHost,
    user: config.boardUser,
    password: config.boardPassword,
    readOnly: config.boardReadOnly,
  };
}

// The board only reads and retries; producer connections fail fast, so a Redis outage shows as
// an error page and a failing /healthz instead of requests that hang.
function openQueues(options: BoardOptions): Queue[] {
  return (options.queueNames ?? QUEUE_NAMES).map((name) => {
    const queue = new Queue(name, { connection: redisOptions(options.redisUrl, 'producer'), prefix: options.prefix });
    // Debug only: during an outage every queue reports every reconnect; /healthz and /api say it once.
    queue.on('error', (err) => options.logger.debug({ queue: name, err: err.message }, 'board: redis connection error'));
    return queue;
  });
}

/** Ready now, or (first connection still under way) within ms; a reconnecting client is down. */
function redisReady(redis: IORedis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  if (!['wait', 'connecting', 'connect'].includes(redis.status)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    redis.once('ready', onReady);
  });
}

/** Operators look for a charge, not a job number: the job's title names the charge it touches. */
function withChargeInName(adapter: BullMQAdapter): BullMQAdapter {
  adapter.setFormatter('name', (job: { name?: string; data?: { chargeId?: unknown; id?: unknown } }) => {
    const chargeId = job.data?.chargeId ?? job.data?.id;
    return typeof chargeId === 'string' ? `${job.name} · charge ${chargeId}` : job.name ?? '';
  });
  return adapter;
}

function buildApp(options: BoardOptions, queues: Queue[], credentials: BoardCredentials, redis: IORedis): express.Express {
  const serverAdapter = new ExpressAdapter().setBasePath('/');
  createBullBoard({
    queues: queues.map((q) => withChargeInName(new BullMQAdapter(q, { readOnlyMode: options.readOnly }))),
    serverAdapter,
    options: {
      // The header's link menu leads to the charge explorer served by this same server (SPEC §6).
      uiConfig: { boardTitle: 'flatfee-worker', hideDocsLink: true, miscLinks: [{ text: 'Charge explorer', url: '/charges' }] },
    },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use(basicAuth(credentials));
  app.get('/healthz', async (_req, res) => {
    const report = await checkHealth(options.knex, queues[0]);
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type('text/plain; version=0.0.4').send(await prometheusMetrics(queues));
    } catch (err) {
      next(err);
    }
  });
  // Bull Board's API waits for Redis forever: with Redis down it answers 503 at once instead.
  app.use('/api', async (_req, res, next) => {
    if (await redisReady(redis, 2000)) return next();
    res.status(503).json({ error: `Redis unreachable at ${addressOf(options.redisUrl)} (${redis.status})` });
  });
  app.use('/charges', chargeExplorer(options.knex, options.logger));
  app.use('/', serverAdapter.getRouter());
  return app;
}

// Not app.listen: Express 5 calls its callback on errors too, so a port in use would look like success.
function listen(app: express.Express, port: number, host: string | undefined): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(app);
    server.once('error', reject);
    server.listen(port, host ?? '::', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Serves Bull Board at `/` (SPEC §6) with /healthz and /metrics, all behind basic auth. Without
 * configured credentials it listens on 127.0.0.1 only and logs a one-off password.
 */
export async function startBoard(options: BoardOptions): Promise<BoardServer> {
  const credentials = resolveCredentials(options.user, options.password);
  const host = credentials.generated ? '127.0.0.1' : options.host;
  if (credentials.generated && options.host && options.host !== '127.0.0.1') {
    options.logger.warn({ requestedHost: options.host }, 'BOARD_HOST ignored: without BOARD_USER/BOARD_PASSWORD the board listens on 127.0.0.1 only');
  }
  enableProcessMetrics();
  const queues = openQueues(options);
  // A connection of its own whose status says whether Redis is up right now (ioredis reconnects it).
  const redis = new IORedis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(times * 500, 2000) });
  redis.on('error', () => undefined);
  const server = await listen(buildApp(options, queues, credentials, redis), options.port, host).catch(async (err: unknown) => {
    redis.disconnect();
    await Promise.all(queues.map((q) => q.close()));
    throw err;
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? (address.address === '::' ? 'localhost' : `[${address.address}]`) : address.address;
  const url = `http://${shownHost}:${address.port}/`;
  options.logger.info({ url, readOnly: options.readOnly, queues: queues.map((q) => q.name) }, 'board listening');
  if (credentials.generated) {
    options.logger.warn({ url, user: credentials.user, password: credentials.password }, 'board: no BOARD_USER/BOARD_PASSWORD set, generated a password for this run (listening on 127.0.0.1 only)');
  }
  return {
    url,
    host: address.address,
    port: address.port,
    credentials,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      redis.disconnect();
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
