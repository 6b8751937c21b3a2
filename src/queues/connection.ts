import { ConnectionOptions, createIORedisClient, RedisConnection, RedisOptions } from 'bullmq';
import { Cluster } from 'ioredis';
import { redisClusterFrom } from '../config';

/**
 * Redis options from REDIS_URL. Workers wait for Redis forever (maxRetriesPerRequest null, as BullMQ
 * requires); producers fail fast so a caller learns at once that its job was not enqueued.
 */
export function redisOptions(redisUrl: string, role: 'worker' | 'producer'): ConnectionOptions {
  const url = new URL(redisUrl);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableOfflineQueue: role === 'worker',
    // Exponential reconnect, capped: a restarted Redis is picked up within seconds.
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 8), 5000),
  };
}

/**
 * Redis Cluster mode (REDIS_CLUSTER=true): REDIS_URL names one seed node (or a configuration
 * endpoint) and every BullMQ connection of the process becomes an ioredis Cluster client, so keys are
 * routed to whichever node owns their slot. BullMQ creates and closes those clients itself, through
 * its global client factory. QUEUE_PREFIX must carry a hash tag (`{flatfee}`): BullMQ's scripts touch
 * several keys of a queue at once, which Cluster refuses across slots (CROSSSLOT).
 */
export function useRedisCluster(): () => void {
  const previous = RedisConnection.clientFactory;
  RedisConnection.clientFactory = (opts: RedisOptions) => {
    const { host, port, retryStrategy, enableOfflineQueue, db: _db, ...nodeOptions } = opts;
    const cluster = new Cluster([{ host: host ?? '127.0.0.1', port: port ?? 6379 }], {
      redisOptions: nodeOptions,
      enableOfflineQueue,
      clusterRetryStrategy: retryStrategy ?? undefined,
    });
    return createIORedisClient(cluster);
  };
  return () => {
    RedisConnection.clientFactory = previous;
  };
}

export function clusterModeFrom(env: NodeJS.ProcessEnv): boolean {
  return redisClusterFrom(env);
}

/** Redis's own rule: the first `{` and the next `}` after it, with at least one character between. */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open >= 0 && prefix.indexOf('}', open + 1) > open + 1;
}

/** Cluster mode with an untagged prefix would fail every job with CROSSSLOT: refuse to start instead. */
export function configureRedisCluster(clusterMode: boolean, queuePrefix: string): void {
  if (!clusterMode) return;
  if (!hasHashTag(queuePrefix)) {
    throw new Error(`REDIS_CLUSTER=true needs a QUEUE_PREFIX with a hash tag such as {flatfee}, got "${queuePrefix}"`);
  }
  useRedisCluster();
}
