import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import { Gauge } from 'prom-client';
import { metricsEnabled } from './metrics';

/**
 * Gauges read at scrape time: the PostgreSQL pool (knex's tarn pool) and each worker's Redis
 * connections. Sources are registered by startWorkers and dropped once closed, so a scrape never
 * touches a destroyed pool or a closed connection.
 */

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

const pools = new Set<Knex>();
const workers = new Set<Worker>();

function livePools(): TarnPool[] {
  const live: TarnPool[] = [];
  for (const knex of pools) {
    // knex.destroy() drops the pool (client.pool = undefined): that pool is gone for good.
    const pool = (knex.client as { pool?: TarnPool }).pool;
    if (pool) live.push(pool);
    else pools.delete(knex);
  }
  return live;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function createGauges() {
  new Gauge({
    name: 'flatfee_db_pool_connections',
    help: 'PostgreSQL pool connections by state (used: lent to a transaction or query; idle: open and free)',
    labelNames: ['state'] as const,
    collect() {
      const live = livePools();
      this.set({ state: 'used' }, sum(live.map((p) => p.numUsed())));
      this.set({ state: 'idle' }, sum(live.map((p) => p.numFree())));
    },
  });
  new Gauge({
    name: 'flatfee_db_pool_pending_acquires',
    help: 'Requests waiting for a PostgreSQL pool connection (above 0 for long: the pool is saturated)',
    collect() {
      this.set(sum(livePools().map((p) => p.numPendingAcquires())));
    },
  });
  new Gauge({
    name: 'flatfee_db_pool_max_connections',
    help: 'Size limit of the PostgreSQL pool',
    collect() {
      this.set(sum(livePools().map((p) => p.max)));
    },
  });
  new Gauge({
    name: 'flatfee_redis_connection_up',
    help: "1 when a worker's Redis connection is ready, 0 while it connects or reconnects",
    labelNames: ['queue', 'connection'] as const,
    async collect() {
      this.reset();
      for (const worker of workers) {
        const backend = worker.getBackend();
        const connections = { main: backend.connection, blocking: backend.blockingConnection };
        for (const [kind, connection] of Object.entries(connections)) {
          if (!connection) continue;
          // Awaiting the client of a connection still initializing would hang the scrape during an outage.
          const client = connection.status === 'ready' ? await connection.client.catch(() => null) : null;
          this.set({ queue: worker.name, connection: kind }, client?.status === 'ready' ? 1 : 0);
        }
      }
    },
  });
}

let created = false;

function ensureGauges(): boolean {
  if (!metricsEnabled()) return false;
  if (!created) createGauges();
  created = true;
  return true;
}

/** Reports this pool's connections on /metrics until it is destroyed. */
export function watchDbPool(knex: Knex): void {
  if (ensureGauges()) pools.add(knex);
}

/** Reports this worker's Redis connections on /metrics until it closes. */
export function watchRedis(worker: Worker): void {
  if (!ensureGauges()) return;
  workers.add(worker);
  worker.once('closed', () => workers.delete(worker));
}
