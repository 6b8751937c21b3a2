import IORedis from 'ioredis';

/**
 * Redis or PostgreSQL could not be reached: the one error a caller of the producer client (or a CLI
 * one-shot) gets for it, within a deadline, instead of a hang or a stream of connection stacks.
 * Nothing was enqueued or written.
 */
export class ServiceUnavailableError extends Error {
  readonly code = 'service_unavailable';

  constructor(
    readonly service: 'Redis' | 'PostgreSQL',
    readonly address: string,
    reason: string,
  ) {
    super(`${service} unreachable at ${address}: ${reason}`);
    this.name = 'ServiceUnavailableError';
  }
}

/** host:port[/db] of a URL, credentials left out (messages and logs must not carry passwords). */
export function addressOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol.startsWith('redis') ? '6379' : '5432')}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

const CONNECTION_ERRORS = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|Connection is closed|Stream isn't writeable|max retries per request|connect ETIMEDOUT/i;

export function isConnectionError(err: unknown): boolean {
  return err instanceof Error && CONNECTION_ERRORS.test(`${(err as { code?: string }).code ?? ''} ${err.message}`);
}

/**
 * Runs one Redis operation with a deadline. A timeout, or a connection error, becomes a
 * ServiceUnavailableError naming the address and the last connection error seen (lastError).
 */
export async function withRedisDeadline<T>(address: string, ms: number, work: () => Promise<T>, lastError: () => Error | undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceUnavailableError('Redis', address, lastError()?.message ?? `no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), deadline]);
  } catch (err) {
    // "Connection is closed." says less than the connection error that closed it
    if (isConnectionError(err)) throw new ServiceUnavailableError('Redis', address, lastError()?.message ?? (err as Error).message);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** One PING on a client of its own, no retries: resolves when Redis answers, else throws ServiceUnavailableError. */
export async function pingRedis(url: string, ms = 2000): Promise<void> {
  const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: ms, enableOfflineQueue: false });
  let last: Error | undefined;
  client.on('error', (err: Error) => (last = err));
  try {
    await withRedisDeadline(addressOf(url), ms, async () => {
      await client.connect();
      await client.ping();
    }, () => last);
  } catch (err) {
    if (err instanceof ServiceUnavailableError) throw err;
    throw new ServiceUnavailableError('Redis', addressOf(url), last?.message ?? (err as Error).message);
  } finally {
    client.disconnect();
  }
}

/**
 * While Redis is down every worker connection reports every reconnect attempt: the operator gets one
 * line per interval for all of them ("Redis at … unreachable (…), reconnecting"), and every other
 * error in full. Returns the listener for a worker's 'error' events.
 */
export function outageReporter(
  redisUrl: string,
  report: (line: string) => void,
  other: (queue: string, err: Error) => void,
  intervalMs = 2000,
  now: () => number = Date.now,
): (queue: string, err: Error) => void {
  let lastAt = -Infinity;
  return (queue, err) => {
    if (!isConnectionError(err)) return other(queue, err);
    if (now() - lastAt < intervalMs) return;
    lastAt = now();
    report(`Redis at ${addressOf(redisUrl)} unreachable (${err.message}), reconnecting`);
  };
}
