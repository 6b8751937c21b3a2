import type { Queue } from 'bullmq';
import type { Knex } from 'knex';

export interface HealthReport {
  status: 'ok' | 'unavailable';
  redis: string;
  postgres: string;
}

/** A probe that hangs (a paused Redis, a saturated pool) counts as down, not as a hung health check. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function probe(check: () => Promise<unknown>, ms: number, what: string): Promise<string> {
  try {
    await withTimeout(check(), ms, what);
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Redis through the board's own queue connection, Postgres through the process's pool. */
export async function checkHealth(knex: Knex, queue: Queue, timeoutMs = 2000): Promise<HealthReport> {
  const [redis, postgres] = await Promise.all([
    probe(() => queue.getJobCounts('waiting'), timeoutMs, 'redis'),
    probe(() => knex.raw('select 1'), timeoutMs, 'postgres'),
  ]);
  return { status: redis === 'ok' && postgres === 'ok' ? 'ok' : 'unavailable', redis, postgres };
}
