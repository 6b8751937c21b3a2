import { Client } from 'pg';
import { addressOf, isConnectionError, ServiceUnavailableError } from '../queues/unavailable';

/** The database a URL names (its path), as PostgreSQL spells it. */
export function databaseNameOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
}

/**
 * `start` and `migrate` create the configured database when it does not exist (SPEC §5), through
 * the server's `postgres` maintenance database. Returns whether it was created.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseNameOf(databaseUrl);
  if (!name) return false;
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (err) {
    // 42P04: created meanwhile by another process
    if ((err as { code?: string }).code === '42P04') return false;
    throw asPostgresProblem(err, databaseUrl);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const UNREACHABLE_CODES = new Set(['28P01', '28000', '57P03', '53300']);

/**
 * A PostgreSQL fault that an operator fixes outside the worker (not running, wrong password, missing
 * database), as one line that names PostgreSQL and its address; anything else unchanged.
 */
export function asPostgresProblem(err: unknown, databaseUrl: string): unknown {
  if (err instanceof ServiceUnavailableError) return err;
  const code = (err as { code?: string })?.code;
  const address = addressOf(databaseUrl);
  if (code === '3D000') {
    return new ServiceUnavailableError('PostgreSQL', address, `database "${databaseNameOf(databaseUrl)}" does not exist (\`flatfee-worker migrate\` creates it)`);
  }
  const timeout = err instanceof Error && err.name === 'KnexTimeoutError';
  if (isConnectionError(err) || timeout || (code !== undefined && UNREACHABLE_CODES.has(code))) {
    return new ServiceUnavailableError('PostgreSQL', address, (err as Error).message);
  }
  return err;
}
