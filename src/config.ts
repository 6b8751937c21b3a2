/** Environment → typed configuration, read once. Every setting has a working local default. */
export interface Config {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  workerConcurrency: number;
  boardPort: number;
  boardHost: string | undefined;
  boardUser: string | undefined;
  boardPassword: string | undefined;
  boardReadOnly: boolean;
  logLevel: string;
  shutdownTimeoutMs: number;
  dbPoolMax: number;
  /** BullMQ lock and stall settings (defaults are BullMQ's): crash tests lower them to see redelivery fast. */
  workerLockDurationMs: number;
  workerStalledIntervalMs: number;
  workerMaxStalledCount: number;
}

/** An integer setting: unset or empty gives the fallback, anything else outside min..max refuses to start. */
export function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(max === Number.MAX_SAFE_INTEGER ? `${name} must be an integer >= ${min}, got "${raw}"` : `${name} must be an integer ${min}..${max}, got "${raw}"`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Jobs of one queue in flight at once: enough for every partition's batch being applied plus one gathering.
  const batchSize = intFrom(env, 'BATCH_SIZE', 50, 1, 1000);
  const workerConcurrency = intFrom(env, 'WORKER_CONCURRENCY', (intFrom(env, 'BATCH_PARTITIONS', 2, 1, 64) + 1) * batchSize);
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    queuePrefix: env.QUEUE_PREFIX || 'bull',
    workerConcurrency,
    boardPort: intFrom(env, 'BOARD_PORT', 3000, 0),
    boardHost: env.BOARD_HOST || undefined,
    boardUser: env.BOARD_USER || undefined,
    boardPassword: env.BOARD_PASSWORD || undefined,
    boardReadOnly: env.BOARD_READ_ONLY === 'true',
    logLevel: env.LOG_LEVEL || 'info',
    shutdownTimeoutMs: intFrom(env, 'SHUTDOWN_TIMEOUT_MS', 30000),
    // Each queue's partitions hold a transaction at once, plus the journal of failed jobs beside them.
    dbPoolMax: intFrom(env, 'DB_POOL_MAX', 24),
    workerLockDurationMs: intFrom(env, 'WORKER_LOCK_DURATION_MS', 30000),
    workerStalledIntervalMs: intFrom(env, 'WORKER_STALLED_INTERVAL_MS', 30000),
    workerMaxStalledCount: intFrom(env, 'WORKER_MAX_STALLED_COUNT', 1, 0),
  };
}
