import type { ConnectionOptions } from 'bullmq';

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
