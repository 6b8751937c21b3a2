import { Client } from 'pg';

interface ClientInternals {
  _activeQuery: unknown;
  _queryQueue: unknown[];
}

/**
 * Runs `fn` and counts the queries sent on a pg client that still had one in flight. pg queues such
 * a query today and warns that pg 9 will not; within a transaction the reads must go one at a time.
 */
export async function overlappingQueries(fn: () => Promise<unknown>): Promise<number> {
  const proto = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  let overlaps = 0;
  proto.query = function (this: ClientInternals, ...args: unknown[]) {
    if (this._activeQuery || this._queryQueue.length > 0) overlaps += 1;
    return query.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.query = query;
  }
  return overlaps;
}
