import { expect } from 'chai';
import { Client, types as pgTypes } from 'pg';
import parseTimestamp from 'postgres-date';
import { PgProtocol, RoundTrip, RoundTripStatement, TypeParsers } from '../../src/db/round-trip';
import { useTestDatabase } from '../helpers/db';

// A round trip sends several prepared statements with one Sync. These tests hold it to what the
// protocol promises: every statement answered in order with its own rows, one exchange on the wire,
// and after an error pg's list of prepared statements holds exactly the ones PostgreSQL prepared,
// so the next round trip neither prepares one twice nor runs one that does not exist.

const statement = (name: string, text: string, values: unknown[] = []): RoundTripStatement => ({ name, text, values });

describe('round trip: several prepared statements, one Sync', function () {
  this.timeout(30000);
  const db = useTestDatabase('round_trip');
  let client: Client;
  const protocol = () => (client as unknown as { connection: PgProtocol }).connection;
  const sendOn = (on: Client, statements: RoundTripStatement[], types?: TypeParsers) => on.query(new RoundTrip(statements, types) as never) as unknown as RoundTrip;
  const send = (statements: RoundTripStatement[]) => sendOn(client, statements);
  const prepared = async () => (await client.query('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((r) => r.name);

  beforeEach(async () => {
    client = new Client({ connectionString: db().url });
    await client.connect();
  });

  afterEach(async () => {
    await client.end();
  });

  it('answers every statement in order with its own rows and types, in one exchange', async () => {
    const readyForQuery: number[] = [];
    (protocol() as unknown as NodeJS.EventEmitter).on('readyForQuery', () => readyForQuery.push(1));
    const results = await send([
      statement('rt_series', 'SELECT g AS n, (g * 1.5)::numeric AS amount FROM generate_series(1, $1::int) g', [3]),
      statement('rt_none', 'SELECT 1 AS one WHERE false'),
      statement('rt_text', "SELECT $1::text || '!' AS t, $2::timestamptz AS at", ["it's", new Date('2026-03-01T00:00:00Z')]),
    ]).results;
    expect(results.map((r) => r.rows)).to.deep.equal([
      [{ n: 1, amount: '1.5' }, { n: 2, amount: '3.0' }, { n: 3, amount: '4.5' }],
      [],
      [{ t: "it's!", at: new Date('2026-03-01T00:00:00Z') }],
    ]);
    expect(results.map((r) => r.rowCount)).to.deep.equal([3, 0, 1]);
    expect(readyForQuery, 'one Sync, one ReadyForQuery').to.have.length(1);
    expect(await prepared()).to.deep.equal(['rt_none', 'rt_series', 'rt_text']);
    // prepared once: the second time only Bind/Execute go out, and the answers are the same
    const again = await send([statement('rt_text', "SELECT $1::text || '!' AS t, $2::timestamptz AS at", ['x', null])]).results;
    expect(again[0].rows).to.deep.equal([{ t: 'x!', at: null }]);
  });

  it('fails with the first error; what ran before it is rolled back with the implicit transaction, and nothing after it runs', async () => {
    await client.query('CREATE TEMP TABLE rt_probe (k text PRIMARY KEY)');
    const trip = send([
      statement('rt_insert', 'INSERT INTO rt_probe (k) VALUES ($1)', ['a']),
      statement('rt_divide', 'SELECT 1 / $1::int AS q', [0]),
      statement('rt_insert_b', 'INSERT INTO rt_probe (k) VALUES ($1)', ['b']),
    ]);
    await expect(trip.results).to.be.rejectedWith('division by zero');
    expect((await client.query('SELECT k FROM rt_probe')).rows).to.deep.equal([]);
    // the two statements PostgreSQL parsed are known as prepared, the one it skipped is not
    expect(await prepared()).to.deep.equal(['rt_divide', 'rt_insert']);
    expect(Object.keys(protocol().parsedStatements).sort()).to.deep.equal(['rt_divide', 'rt_insert']);
    // so the next round trip prepares only the skipped one, and runs all three
    const results = await send([
      statement('rt_insert', 'INSERT INTO rt_probe (k) VALUES ($1)', ['a']),
      statement('rt_divide', 'SELECT 1 / $1::int AS q', [1]),
      statement('rt_insert_b', 'INSERT INTO rt_probe (k) VALUES ($1)', ['b']),
    ]).results;
    expect(results[1].rows).to.deep.equal([{ q: 1 }]);
    expect((await client.query('SELECT k FROM rt_probe ORDER BY k')).rows.map((r) => r.k)).to.deep.equal(['a', 'b']);
  });

  it('a statement that does not parse is not taken for prepared; the connection goes on', async () => {
    const trip = send([statement('rt_ok', 'SELECT 1 AS one'), statement('rt_bad', 'SELEKT 2'), statement('rt_after', 'SELECT 3 AS three')]);
    await expect(trip.results).to.be.rejectedWith('syntax error');
    expect(Object.keys(protocol().parsedStatements)).to.deep.equal(['rt_ok']);
    const [after] = await send([statement('rt_after', 'SELECT 3 AS three')]).results;
    expect(after.rows).to.deep.equal([{ three: 3 }]);
    expect((await client.query('SELECT 4 AS four')).rows).to.deep.equal([{ four: 4 }]);
  });

  it('a value pg cannot bind fails the round trip; the statements parsed before it stay known, and the connection goes on', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const first = statement('rt_before', 'SELECT $1::int AS n', [1]);
    const trip = send([first, statement('rt_json', 'SELECT $1::jsonb AS doc', [circular])]);
    await expect(trip.results).to.be.rejectedWith(/circular/i);
    expect((await client.query('SELECT 5 AS five')).rows).to.deep.equal([{ five: 5 }]);
    // the statements parsed before the bad value are prepared, and known to be
    expect(await prepared()).to.deep.equal(['rt_before', 'rt_json']);
    const [again] = await send([first, statement('rt_json', 'SELECT $1::jsonb AS doc', [{ a: 1 }])]).results;
    expect(again.rows).to.deep.equal([{ n: 1 }]);
  });

  it("parses each column with the parsers of the client it is given, pg's defaults without one", async () => {
    const getTypeParser = ((oid: number, format?: 'text' | 'binary') => (oid === pgTypes.builtins.TIMESTAMPTZ ? (v: string) => `parsed ${v}` : pgTypes.getTypeParser(oid, format))) as typeof pgTypes.getTypeParser;
    const types = { getTypeParser };
    const own = new Client({ connectionString: db().url, types });
    await own.connect();
    try {
      const sql = "SELECT '2026-03-01 10:00:00+00'::timestamptz AS at, 2::int AS n";
      const [[row]] = (await sendOn(own, [statement('rt_own', sql)], own).results).map((r) => r.rows);
      expect(row).to.deep.equal({ at: 'parsed 2026-03-01 10:00:00+00', n: 2 });
      const [[plain]] = (await sendOn(own, [statement('rt_own', sql)]).results).map((r) => r.rows);
      expect(plain).to.deep.equal({ at: new Date('2026-03-01T10:00:00Z'), n: 2 });
    } finally {
      await own.end();
    }
  });

  it("parses each column with the client's own type parsers: a worker connection's timestamptz with postgres-date 2", async () => {
    const connection = (await db().knex.client.acquireConnection()) as Client;
    try {
      expect(connection.getTypeParser(pgTypes.builtins.TIMESTAMPTZ, 'text')).to.equal(parseTimestamp);
      // pg's own parser, for every other client of the process, is left as it is
      expect(pgTypes.getTypeParser(pgTypes.builtins.TIMESTAMPTZ, 'text')).to.not.equal(parseTimestamp);
      const sql = `SELECT '2026-12-05 17:30:12.123456+00'::timestamptz AS a, '1999-06-01 12:00:00-05:30'::timestamptz AS b,
                          'infinity'::timestamptz AS c, '0099-01-01 00:00:00+00'::timestamptz AS d, NULL::timestamptz AS e, '2026-03-01'::date::text AS f`;
      const expected = { a: new Date('2026-12-05T17:30:12.123Z'), b: new Date('1999-06-01T17:30:00Z'), c: Infinity, d: new Date('0099-01-01T00:00:00Z'), e: null, f: '2026-03-01' };
      const [row] = (await sendOn(connection, [statement('rt_times', sql)], connection).results)[0].rows;
      expect(row).to.deep.equal(expected);
      expect((await db().knex.raw(sql)).rows[0]).to.deep.equal(expected);
    } finally {
      await db().knex.client.releaseConnection(connection);
    }
  });
});
