import { expect } from 'chai';
import { Client } from 'pg';
import { PgProtocol, RoundTrip, RoundTripStatement } from '../../src/db/round-trip';
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
  const send = (statements: RoundTripStatement[]) => client.query(new RoundTrip(statements) as never) as unknown as RoundTrip;
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
});
