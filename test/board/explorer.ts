import pino from 'pino';
import { BoardServer, startBoard } from '../../src/board/server';
import { loadConfig } from '../../src/config';
import { TestDatabase } from '../helpers/db';

// Shared by the explorer's HTTP and browser tests: a writable board (the explorer must stay
// read-only even then) on the test's database and queue prefix.

export const EXPLORER_USER = 'ops';
export const EXPLORER_PASSWORD = 'explorer-test-secret';

export function basicHeader(user = EXPLORER_USER, password = EXPLORER_PASSWORD): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

export function startExplorerBoard(db: TestDatabase, prefix: string): Promise<BoardServer> {
  return startBoard({
    knex: db.knex,
    logger: pino({ level: 'silent' }),
    redisUrl: loadConfig().redisUrl,
    prefix,
    port: 0,
    host: '127.0.0.1',
    user: EXPLORER_USER,
    password: EXPLORER_PASSWORD,
    readOnly: false,
  });
}
