import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import * as pg from 'pg';
import type { QueryResult } from 'pg';
import { SqlPart } from './batch-sql';

export type Row = Record<string, unknown>;

interface PgConnection {
  query(text: string): Promise<QueryResult | QueryResult[]>;
}

// pg exports its parameter serializer (arrays, dates, JSON) as utils.prepareValue; @types/pg omits it.
const { prepareValue } = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils;

/**
 * An escape-string literal (E'…', quotes and backslashes doubled): the same text whatever the
 * server's standard_conforming_strings. What pg.escapeLiteral writes for a text holding a
 * backslash, in one regex pass instead of its character-by-character concatenation, which is slow
 * on the batch statements' long array literals.
 */
function quote(text: string): string {
  return `E'${text.replace(/['\\]/g, '$&$&')}'`;
}

/** A bound value as the literal of the very text pg would have sent as its parameter. */
function literal(value: unknown): string {
  const text = prepareValue(value);
  if (text === null || text === undefined) return 'NULL';
  if (typeof text !== 'string' && typeof text !== 'number' && typeof text !== 'boolean') throw new TypeError(`cannot write a ${typeof text} into a batch statement`);
  return quote(String(text));
}

/**
 * The statement with its values written in as quoted literals. Only the simple query protocol
 * takes several statements in one message, and it has no parameters. The batch statements are
 * fixed texts whose only `?` are placeholders, each followed by its cast.
 */
export function inline(part: SqlPart): string {
  let next = 0;
  const sql = part.sql.replace(/\?/g, () => literal(part.bindings[next++]));
  if (next !== part.bindings.length) throw new Error(`a batch statement has ${next} placeholders for ${part.bindings.length} values`);
  return sql;
}

/**
 * One batch's transaction on one pooled connection, in two round trips: BEGIN with every read,
 * then every write with COMMIT. Each statement of a round trip runs with its own snapshot (READ
 * COMMITTED), so a read sees what committed while the statements before it waited on their locks. On
 * a busy two-core machine each round trip costs a few milliseconds of waiting, whatever its work.
 */
export class BatchTransaction {
  private sentBegin = false;
  private committed = false;

  constructor(
    private readonly knex: Knex,
    private readonly connection: PgConnection,
  ) {}

  /** BEGIN (first call only) and the statements, in one round trip: the rows of each statement. */
  async read(parts: SqlPart[]): Promise<Row[][]> {
    const begin = this.sentBegin ? [] : ['BEGIN'];
    this.sentBegin = true;
    const results = await this.send([...begin, ...parts.map(inline)]);
    return results.slice(begin.length).map((r) => r.rows as Row[]);
  }

  /** The write (if any) and COMMIT, in one round trip. */
  async commit(write: SqlPart | null): Promise<void> {
    const begin = this.sentBegin ? [] : ['BEGIN'];
    this.sentBegin = true;
    await this.send([...begin, ...(write ? [inline(write)] : []), 'COMMIT']);
    this.committed = true;
  }

  get begun(): boolean {
    return this.sentBegin;
  }

  get open(): boolean {
    return this.sentBegin && !this.committed;
  }

  /** knex's own query events are raised too, so statement counts and traces see these round trips. */
  private async send(statements: string[]): Promise<QueryResult[]> {
    const query = { sql: statements.join(';\n'), bindings: [], method: 'raw', __knexQueryUid: randomUUID() };
    this.knex.client.emit('query', query);
    try {
      const result = await this.connection.query(query.sql);
      this.knex.client.emit('query-response', result, query);
      return Array.isArray(result) ? result : [result];
    } catch (err) {
      this.knex.client.emit('query-error', err, query);
      throw err;
    }
  }
}

/**
 * Runs `body` in a BatchTransaction on a connection of knex's pool: it must end with commit();
 * anything thrown rolls back. A connection that broke is disposed of by knex's pool, as after any query.
 */
export async function inBatchTransaction<T>(knex: Knex, body: (trx: BatchTransaction) => Promise<T>): Promise<T> {
  const connection = (await knex.client.acquireConnection()) as PgConnection;
  const trx = new BatchTransaction(knex, connection);
  try {
    const out = await body(trx);
    if (trx.open) throw new Error('a batch transaction ended without COMMIT');
    return out;
  } catch (err) {
    // After a failed COMMIT (the transaction is already over) ROLLBACK only warns.
    if (trx.begun) await connection.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}
