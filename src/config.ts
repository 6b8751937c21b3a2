/**
 * Environment → typed configuration, read once. Every setting has a working local default; every
 * variable is checked, and all bad ones are listed in one ConfigError (no NaN, no silent fallback).
 */
export interface Config {
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_CLUSTER: REDIS_URL names a cluster seed node (src/queues/connection.ts). */
  redisCluster: boolean;
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
  /** Finished jobs kept per queue (SPEC §3: at least the last 1,000). */
  keepCompletedJobs: number;
  keepFailedJobs: number;
  /** Batches the legacy migration moves at once. */
  legacyMigrationLanes: number;
  /** Most jobs per engine transaction (BATCH_SIZE) and batches in flight per queue (BATCH_PARTITIONS). */
  batchSize: number;
  batchPartitions: number;
  /** METRICS_ENABLED=false: the worker records no metrics of its own (src/observability/metrics.ts). */
  metricsEnabled: boolean;
  /** FLATFEE_FAULT=<point>[:<queue>]: crash tests only (src/engine/faults.ts). */
  fault: string;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/flatfee';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Every environment variable the worker reads, with what it means: `--help` prints this list. */
export const ENVIRONMENT: ReadonlyArray<[string, string]> = [
  ['DATABASE_URL', `PostgreSQL (default ${DEFAULT_DATABASE_URL}; start and migrate create the database)`],
  ['REDIS_URL', `Redis (default ${DEFAULT_REDIS_URL})`],
  ['REDIS_CLUSTER', 'true: REDIS_URL is a Redis Cluster seed node; QUEUE_PREFIX needs a hash tag'],
  ['QUEUE_PREFIX', 'BullMQ key prefix (default bull)'],
  ['WORKER_CONCURRENCY', 'jobs of one queue held at once (default (BATCH_PARTITIONS + 1) × BATCH_SIZE = 150)'],
  ['BOARD_PORT', 'Bull Board port, 0..65535 (default 3000)'],
  ['BOARD_HOST', 'interface the board listens on when credentials are set'],
  ['BOARD_USER, BOARD_PASSWORD', 'basic auth of the board (unset: 127.0.0.1 only, generated password)'],
  ['BOARD_READ_ONLY', 'true/false/1/0/yes/no (default false)'],
  ['LOG_LEVEL', `${LOG_LEVELS.join('|')} (default info)`],
  ['SHUTDOWN_TIMEOUT_MS', 'how long active jobs may finish on SIGTERM (default 30000)'],
  ['DB_POOL_MAX', 'PostgreSQL pool size (default 24)'],
  ['WORKER_LOCK_DURATION_MS, WORKER_STALLED_INTERVAL_MS, WORKER_MAX_STALLED_COUNT', 'BullMQ lock and stall settings'],
  ['KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS', 'finished jobs kept per queue (defaults 10000, 50000; SPEC §3 asks for at least 1000)'],
  ['BATCH_SIZE, BATCH_PARTITIONS', 'most jobs per transaction (1..1000, default 50), batches per queue in flight (1..64, default 2)'],
  ['METRICS_ENABLED', 'false: record no worker metrics (default true)'],
  ['OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER', 'OpenTelemetry tracing, off unless one is set'],
  ['LEGACY_MIGRATION_LANES', 'batches the legacy migration moves at once (1..16, default 2)'],
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`bad configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads variables and collects every problem, so one error lists all bad variables. */
class Reader {
  readonly problems: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  text(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(max === Number.MAX_SAFE_INTEGER ? `${name} must be an integer >= ${min}, got "${raw}"` : `${name} must be an integer ${min}..${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    this.problems.push(`${name} must be true/false/1/0/yes/no, got "${this.raw(name)}"`);
    return fallback;
  }

  oneOf(name: string, fallback: string, values: string[]): string {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (!values.includes(raw)) this.problems.push(`${name} must be one of ${values.join('|')}, got "${raw}"`);
    return raw;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    let protocol: string | null = null;
    try {
      protocol = new URL(raw).protocol;
    } catch {
      // reported below
    }
    if (protocol === null || !protocols.includes(protocol)) this.problems.push(`${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL, got "${raw}"`);
    return raw;
  }

  done<T>(value: T): T {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
    return value;
  }
}

/** The retention of finished jobs alone: the producer client's defaults need no more than this. */
export function retentionFrom(env: NodeJS.ProcessEnv = process.env): { keepCompletedJobs: number; keepFailedJobs: number } {
  const r = new Reader(env);
  return r.done({ keepCompletedJobs: r.int('KEEP_COMPLETED_JOBS', 10000, 1), keepFailedJobs: r.int('KEEP_FAILED_JOBS', 50000, 1) });
}

/** The engine's batch settings alone. */
export function batchSettingsFrom(env: NodeJS.ProcessEnv = process.env): { size: number; partitions: number } {
  const r = new Reader(env);
  return r.done({ size: r.int('BATCH_SIZE', 50, 1, 1000), partitions: r.int('BATCH_PARTITIONS', 2, 1, 64) });
}

/** LEGACY_MIGRATION_LANES alone, for the migration job's module. */
export function legacyMigrationLanesFrom(env: NodeJS.ProcessEnv = process.env): number {
  const r = new Reader(env);
  return r.done(r.int('LEGACY_MIGRATION_LANES', 2, 1, 16));
}

/** REDIS_CLUSTER alone, checked like every boolean. */
export function redisClusterFrom(env: NodeJS.ProcessEnv = process.env): boolean {
  const r = new Reader(env);
  return r.done(r.bool('REDIS_CLUSTER', false));
}

/** FLATFEE_FAULT (crash tests only): read here like every other variable. */
export function faultSpecFrom(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLATFEE_FAULT ?? '';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = new Reader(env);
  const batchSize = r.int('BATCH_SIZE', 50, 1, 1000);
  const batchPartitions = r.int('BATCH_PARTITIONS', 2, 1, 64);
  // Jobs of one queue in flight at once: enough for every partition's batch being applied plus one gathering.
  const workerConcurrency = r.int('WORKER_CONCURRENCY', (batchPartitions + 1) * batchSize, 1, 10000);
  const config: Config = {
    databaseUrl: r.url('DATABASE_URL', DEFAULT_DATABASE_URL, ['postgres:', 'postgresql:']),
    redisUrl: r.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis:', 'rediss:']),
    redisCluster: r.bool('REDIS_CLUSTER', false),
    queuePrefix: r.text('QUEUE_PREFIX', 'bull'),
    workerConcurrency,
    boardPort: r.int('BOARD_PORT', 3000, 0, 65535),
    boardHost: r.optional('BOARD_HOST'),
    boardUser: r.optional('BOARD_USER'),
    boardPassword: r.optional('BOARD_PASSWORD'),
    boardReadOnly: r.bool('BOARD_READ_ONLY', false),
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 30000, 1),
    // Each queue's partitions hold a transaction at once, plus the journal of failed jobs beside them.
    dbPoolMax: r.int('DB_POOL_MAX', 24, 1, 10000),
    workerLockDurationMs: r.int('WORKER_LOCK_DURATION_MS', 30000, 1),
    workerStalledIntervalMs: r.int('WORKER_STALLED_INTERVAL_MS', 30000, 1),
    workerMaxStalledCount: r.int('WORKER_MAX_STALLED_COUNT', 1, 0),
    keepCompletedJobs: r.int('KEEP_COMPLETED_JOBS', 10000, 1),
    keepFailedJobs: r.int('KEEP_FAILED_JOBS', 50000, 1),
    legacyMigrationLanes: r.int('LEGACY_MIGRATION_LANES', 2, 1, 16),
    batchSize,
    batchPartitions,
    metricsEnabled: r.bool('METRICS_ENABLED', true),
    fault: faultSpecFrom(env),
  };
  return r.done(config);
}

let cached: Config | null = null;

/**
 * The process environment as OpenTelemetry reads it (its standard OTEL_* variables are the SDK's own
 * contract, not ours to rename or check): handed to the tracing module from here, the one place
 * that reads the environment.
 */
export function telemetryEnvironment(): NodeJS.ProcessEnv {
  return process.env;
}

/** The process's configuration, read and checked once. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}
