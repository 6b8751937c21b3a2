import * as pg from 'pg';
import type { QueryResult } from 'pg';

/** A statement of a round trip: prepared under `name` once per connection, run with `values`. */
export interface RoundTripStatement {
  name: string;
  text: string;
  values: unknown[];
}

/** What pg's connection offers a query object: its protocol messages and the statements it has prepared. */
export interface PgProtocol {
  readonly stream: { cork(): void; uncork(): void };
  parsedStatements: Record<string, string>;
  parse(message: { name: string; text: string }): void;
  bind(message: { statement: string; values: unknown[]; valueMapper: (value: unknown) => unknown }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
  on(event: 'parseComplete', listener: () => void): unknown;
  removeListener(event: 'parseComplete', listener: () => void): unknown;
}

/** Where a result finds each column's parser: a pg client (its own types, else pg's) has getTypeParser. */
export interface TypeParsers {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown;
}

/** pg's own result of one statement: it parses each column with the parsers its client's queries use (NUMERIC stays a string). */
interface PgResult extends QueryResult {
  addFields(fields: unknown[]): void;
  parseRow(values: unknown[]): Record<string, unknown>;
  addRow(row: Record<string, unknown>): void;
  addCommandComplete(message: unknown): void;
}
// pg's own Result and parameter serializer (exported as pg.Result and pg.utils; @types/pg omits
// them), so rows and values come out exactly as for any other query of the client.
const { Result: PgResultClass, utils } = pg as unknown as { Result: new (rowMode?: string, types?: TypeParsers) => PgResult; utils: { prepareValue(value: unknown): unknown } };
const { prepareValue } = utils;

/**
 * Several statements in ONE exchange of PostgreSQL's extended protocol: each statement's Parse (the
 * first time on this connection), Bind, Describe and Execute, then a single Sync. PostgreSQL answers
 * them in order and flushes once, at the Sync, so the round trip costs one wake-up on each side
 * instead of one per statement; the first error ends it (PostgreSQL skips the rest up to the Sync).
 *
 * It is handed to pg's client like a query (client.query(roundTrip)), which sends it when the
 * connection is free and routes the answers here until the ReadyForQuery that ends it.
 */
export class RoundTrip {
  readonly results: Promise<QueryResult[]>;
  /** The statements' texts, without values: what a trace (OpenTelemetry's pg instrumentation) shows of the round trip. */
  readonly text: string;
  /** Called once with the outcome; a tracer may wrap it to end its span. */
  callback: (err: unknown, results?: QueryResult[]) => void = () => undefined;
  private readonly answered: PgResult[] = [];
  private current: PgResult;
  private rowError: unknown = null;
  private settled = false;
  private stopListening: () => void = () => undefined;

  /** `types`: the client's, so rows come out as its other queries' do; pg's defaults without it. */
  constructor(
    private readonly statements: RoundTripStatement[],
    private readonly types?: TypeParsers,
  ) {
    this.current = new PgResultClass(undefined, types);
    this.text = statements.map((s) => s.text).join(';\n');
    this.results = new Promise<QueryResult[]>((resolve, reject) => {
      this.callback = (err, results) => (err ? reject(err) : resolve(results!));
    });
  }

  submit(connection: PgProtocol): void {
    const unparsed = this.prepareOnce(connection);
    // Corked, the messages leave in one write.
    connection.stream.cork();
    try {
      for (const s of this.statements) {
        if (unparsed.delete(s.name)) connection.parse({ name: s.name, text: s.text });
        connection.bind({ statement: s.name, values: s.values, valueMapper: prepareValue });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '' });
      }
      connection.sync();
    } catch (err) {
      // A value pg cannot bind: the statements written before it still run and their Parses still
      // prepare (a batch's transaction is then rolled back by its caller), nothing after it is
      // written, and the Sync ends the exchange.
      connection.sync();
      this.finish(err);
    } finally {
      connection.stream.uncork();
    }
  }

  /**
   * The statements this connection has not prepared yet. Each ParseComplete confirms the oldest Parse
   * still unanswered, so after an error pg's list holds exactly the statements that were prepared.
   */
  private prepareOnce(connection: PgProtocol): Set<string> {
    const unparsed = new Map<string, string>();
    for (const s of this.statements) if (connection.parsedStatements[s.name] === undefined) unparsed.set(s.name, s.text);
    if (unparsed.size > 0) {
      const waiting = [...unparsed];
      const onParsed = () => {
        const next = waiting.shift();
        if (next) connection.parsedStatements[next[0]] = next[1];
      };
      connection.on('parseComplete', onParsed);
      this.stopListening = () => connection.removeListener('parseComplete', onParsed);
    }
    return new Set(unparsed.keys());
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    this.current.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.rowError) return;
    try {
      this.current.addRow(this.current.parseRow(message.fields));
    } catch (err) {
      // A value no type parser accepts: the round trip fails once PostgreSQL has answered all of it.
      this.rowError = err;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.current.addCommandComplete(message);
    this.answered.push(this.current);
    this.current = new PgResultClass(undefined, this.types);
  }

  handleEmptyQuery(): void {
    this.answered.push(this.current);
    this.current = new PgResultClass(undefined, this.types);
  }

  handleError(err: unknown): void {
    // PostgreSQL skips every message after an error up to the Sync: no ParseComplete follows.
    this.stopListening();
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.stopListening();
    if (this.rowError) this.finish(this.rowError);
    else if (this.answered.length !== this.statements.length) this.finish(new Error(`${this.answered.length} of ${this.statements.length} statements were answered`));
    else this.finish(null);
  }

  handlePortalSuspended(): void {
    this.finish(new Error('a round-trip statement was suspended (it asked for a row limit)'));
  }

  handleCopyInResponse(connection: PgProtocol): void {
    connection.sendCopyFail('a round trip sends no COPY data');
  }

  handleCopyData(): void {
    // No statement of a round trip is a COPY.
  }

  private finish(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.callback(err);
    else this.callback(null, this.answered);
  }
}
