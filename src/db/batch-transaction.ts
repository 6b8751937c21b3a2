import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { QueryResult } from 'pg';
import { SqlPart } from './batch-sql';
import { isStalePreparedStatement } from './pg-errors';
import { PgProtocol, RoundTrip, RoundTripStatement, TypeParsers } from './round-trip';

export type Row = Record<string, unknown>;

/** The pg client of a pooled connection; its getTypeParser answers with the parsers knex configured (knex.ts). */
interface PgConnection extends TypeParsers {
  query(text: string): Promise<QueryResult | QueryResult[]>;
  query(roundTrip: RoundTrip): RoundTrip;
  /** pg's connection: its protocol messages, and the statement names it has prepared on the server. */
  readonly connection: PgProtocol;
}

/** A batch statement as it is prepared: `$n` placeholders, and the name it is prepared under on each connection. */
interface Prepared {
  name: string;
  text: string;
  placeholders: number;
}

// The batch statements are a few fixed texts (a kind's reads, the combinations of its writes), so
// each connection parses and plans each of them once; the map is bounded by that set.
const prepared = new Map<string, Prepared>();

/** `?` placeholders as `$1…$n` (the batch statements have no other `?`), with a name derived from the text. */
export function preparedOf(sql: string): Prepared {
  let found = prepared.get(sql);
  if (!found) {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    found = { name: `ffw_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text, placeholders: n };
    prepared.set(sql, found);
  }
  return found;
}

interface Statement extends RoundTripStatement {
  planEachTime: boolean;
}

function statementOf(part: SqlPart): Statement {
  const p = preparedOf(part.sql);
  if (p.placeholders !== part.bindings.length) throw new Error(`a batch statement has ${p.placeholders} placeholders for ${part.bindings.length} values`);
  return { name: p.name, text: p.text, values: part.bindings, planEachTime: part.planEachTime === true };
}

/**
 * A prepared statement keeps its generic plan: planned once per connection, not per batch (parsed
 * and planned each time, the same statements cost PostgreSQL more than twice as much). Every batch
 * read probes an index per row through LATERAL subqueries and an insert reads only its arrays, so
 * that plan stays right however the tables grow after it was made; with sequential scans and hash
 * or merge joins off, a plan made on nearly empty tables cannot read whole tables instead. A part
 * that says planEachTime (an UPDATE) is planned for its values each time.
 */
const settings = (pairs: Array<[string, string]>) => `SELECT ${pairs.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')}`;
const PLAN_CACHE_MODE = { once: settings([['plan_cache_mode', 'force_generic_plan']]), eachTime: settings([['plan_cache_mode', 'force_custom_plan']]) };
const BEGIN = ['BEGIN', settings([['enable_seqscan', 'off'], ['enable_hashjoin', 'off'], ['enable_mergejoin', 'off'], ['plan_cache_mode', 'force_generic_plan']])];

/** A fixed statement of the transaction's own (BEGIN, a setting, COMMIT): prepared like the batch's, it has no values. */
function controlOf(text: string): Sent {
  return { kind: 'control', statement: Object.assign({}, preparedOf(text), { values: [], planEachTime: false }) };
}

type Sent = { kind: 'control' | 'statement'; statement: Statement };

/**
 * One batch's transaction on one pooled connection, in two round trips: BEGIN with every read,
 * then every write with COMMIT. Each statement is a named prepared statement with its arrays bound
 * as parameters, and a round trip's statements go out together and are answered together (round-trip.ts).
 * Each statement runs with its own snapshot (READ COMMITTED), so a read sees what committed while
 * the statements before it waited on their locks.
 */
export class BatchTransaction {
  private sentBegin = false;
  private committed = false;
  /** The plan cache mode the transaction is in: BEGIN sets the generic one. */
  private planEachTime = false;

  constructor(
    private readonly knex: Knex,
    private readonly connection: PgConnection,
  ) {}

  /** BEGIN (first call only) and the statements, in one round trip: the rows of each statement. */
  async read(parts: SqlPart[]): Promise<Row[][]> {
    const results = await this.send(parts, null);
    return results.map((r) => r.rows as Row[]);
  }

  /** The write (if any) and COMMIT, in one round trip. */
  async commit(write: SqlPart | null): Promise<void> {
    await this.send(write ? [write] : [], 'COMMIT');
    this.committed = true;
  }

  get begun(): boolean {
    return this.sentBegin;
  }

  get open(): boolean {
    return this.sentBegin && !this.committed;
  }

  /** The round trip's messages: BEGIN the first time, each statement after the plan cache mode it needs, then `end`. */
  private messages(parts: SqlPart[], end: string | null): Sent[] {
    const out: Sent[] = [];
    if (!this.sentBegin) {
      this.sentBegin = true;
      out.push(...BEGIN.map(controlOf));
    }
    for (const statement of parts.map(statementOf)) {
      if (statement.planEachTime !== this.planEachTime) {
        this.planEachTime = statement.planEachTime;
        out.push(controlOf(statement.planEachTime ? PLAN_CACHE_MODE.eachTime : PLAN_CACHE_MODE.once));
      }
      out.push({ kind: 'statement', statement });
    }
    if (end) out.push(controlOf(end));
    return out;
  }

  /**
   * One round trip (round-trip.ts); knex's own query events are raised once per round trip, so
   * statement counts and traces see them. The first statement to fail is the error. The rows come
   * back for the batch's statements only.
   */
  private async send(parts: SqlPart[], end: string | null): Promise<QueryResult[]> {
    const messages = this.messages(parts, end);
    const roundTrip = new RoundTrip(messages.map((m) => m.statement), this.connection);
    const query = { sql: roundTrip.text, bindings: messages.flatMap((m) => m.statement.values), method: 'raw', __knexQueryUid: randomUUID() };
    this.knex.client.emit('query', query);
    let results: QueryResult[];
    try {
      results = await this.connection.query(roundTrip).results;
    } catch (err) {
      this.knex.client.emit('query-error', err, query);
      throw err;
    }
    this.knex.client.emit('query-response', results, query);
    return results.filter((_, i) => messages[i].kind === 'statement');
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
    if (isStalePreparedStatement(err)) await forgetPrepared(connection);
    throw err;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

/** Drops every statement prepared on the connection, on the server and in pg's own list, so the next batch prepares them anew. */
async function forgetPrepared(connection: PgConnection): Promise<void> {
  await connection.query('DEALLOCATE ALL');
  connection.connection.parsedStatements = {};
}
