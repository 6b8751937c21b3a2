import { expect } from 'chai';
import { BatchTransaction, inBatchTransaction, preparedOf } from '../../src/db/batch-transaction';
import { isTransientFault } from '../../src/db/pg-errors';
import { useTestDatabase } from '../helpers/db';

// The batched path sends its statements as named prepared statements with their arrays bound as
// parameters, pipelined in two round trips. These tests hold the values to what knex's own binding
// gives, and the two round trips to one transaction that either commits whole or leaves nothing.

const AWKWARD = ["it's", 'back\\slash', 'comma, "quoted"', '{braces}', 'NULL', '', 'ünïcødé ✓', "E'\\x41'", '?', '$1'];

describe('batch transaction: prepared statements in two round trips', function () {
  this.timeout(30000);
  const db = useTestDatabase('batch_tx');
  const knex = () => db().knex;
  const table = 'batch_tx_probe';

  before(async () => {
    await knex().raw(`CREATE TABLE ${table} (k text PRIMARY KEY, n integer NOT NULL CHECK (n >= 0))`);
  });

  beforeEach(async () => {
    await knex()(table).del();
  });

  const rowsIn = async () => (await knex()(table).orderBy('k').select('k', 'n')).map((r) => [r.k, r.n]);

  it('binds awkward values that read back exactly as knex binds them, whatever standard_conforming_strings says', async () => {
    const stamp = new Date('2026-03-01T12:34:56.789Z');
    const sql = 'SELECT ?::text[] AS texts, ?::text AS one, ?::timestamptz[] AS stamps, ?::jsonb[] AS docs, ?::numeric[] AS amounts, ?::integer AS n, ?::text AS missing';
    const bindings = [[...AWKWARD, null], AWKWARD.join('|'), [stamp, null], [JSON.stringify({ note: "it's \\ \"x\"" }), null], ['12.50', '-0.000000000000000001'], 7, null];
    const viaKnex = (await knex().raw(sql, bindings as never)).rows[0];
    const viaBatch = async (standardStrings: 'on' | 'off') =>
      inBatchTransaction(knex(), async (trx) => {
        await trx.read([{ sql: `SET LOCAL standard_conforming_strings = ${standardStrings}`, bindings: [] }]);
        const [[row]] = await trx.read([{ sql, bindings }]);
        await trx.commit(null);
        return row;
      });
    expect(await viaBatch('off')).to.deep.equal(viaKnex);
    const viaBatchOn = await viaBatch('on');
    expect(viaBatchOn).to.deep.equal(viaKnex);
    expect(viaBatchOn.texts).to.deep.equal([...AWKWARD, null]);
    expect((viaBatchOn.stamps as Date[])[0].toISOString()).to.equal('2026-03-01T12:34:56.789Z');
  });

  it('numbers the placeholders, names a statement by its text, and refuses one whose placeholders and values do not match', async () => {
    expect(preparedOf('SELECT ?::text, ?::int').text).to.equal('SELECT $1::text, $2::int');
    expect(preparedOf('SELECT ?::text').name).to.equal(preparedOf('SELECT ?::text').name);
    expect(preparedOf('SELECT ?::text').name).to.not.equal(preparedOf('SELECT ?::int').name);
    const mismatched = (bindings: unknown[]) =>
      inBatchTransaction(knex(), async (trx) => {
        await trx.read([{ sql: 'SELECT ?::text, ?::text', bindings }]);
        await trx.commit(null);
      });
    await expect(mismatched(['a'])).to.be.rejectedWith('2 placeholders for 1 values');
    await expect(mismatched(['a', 'b', 'c'])).to.be.rejectedWith('2 placeholders for 3 values');
  });

  it('plans each statement once per connection: a batch runs its statements with their generic plans', async () => {
    const sql = `SELECT k, n FROM ${table} WHERE k = ANY(?::text[])`;
    await inBatchTransaction(knex(), async (trx) => {
      const [[mode]] = await trx.read([{ sql: 'SELECT current_setting(?) AS mode', bindings: ['plan_cache_mode'] }]);
      expect(mode.mode).to.equal('force_generic_plan');
      await trx.read([{ sql, bindings: [['a']] }]);
      const [[plans]] = await trx.read([{ sql: 'SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = ?', bindings: [preparedOf(sql).name] }]);
      expect(plans).to.deep.equal({ generic: 1, custom: 0 });
      await trx.commit(null);
    });
    const [{ mode }] = (await knex().raw('SELECT current_setting(?) AS mode', ['plan_cache_mode'])).rows;
    expect(mode, 'outside a batch the setting is back to its default').to.equal('auto');
  });

  it('commits the reads\' writes and the final write together', async () => {
    await inBatchTransaction(knex(), async (trx) => {
      const [inserted] = await trx.read([{ sql: `INSERT INTO ${table} (k, n) SELECT unnest(?::text[]), 1 RETURNING k`, bindings: [['a', 'b']] }]);
      expect(inserted.map((r) => r.k)).to.deep.equal(['a', 'b']);
      await trx.commit({ sql: `UPDATE ${table} SET n = n + 1 WHERE k = ?`, bindings: ['b'] });
    });
    expect(await rowsIn()).to.deep.equal([['a', 1], ['b', 2]]);
  });

  it('a write that fails in the COMMIT round trip leaves nothing of the reads, and the connection serves the next batch', async () => {
    const failing = inBatchTransaction(knex(), async (trx) => {
      await trx.read([{ sql: `INSERT INTO ${table} (k, n) VALUES (?, 1)`, bindings: ['kept?'] }]);
      await trx.commit({ sql: `UPDATE ${table} SET n = -1 WHERE k = ?`, bindings: ['kept?'] });
    });
    await expect(failing).to.be.rejectedWith(/check constraint/);
    expect(await rowsIn()).to.deep.equal([]);
    const [{ stuck }] = (await knex().raw(`SELECT count(*)::int AS stuck FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`)).rows;
    expect(stuck, 'connections left inside a transaction').to.equal(0);
    await inBatchTransaction(knex(), async (trx) => {
      const [[state]] = await trx.read([{ sql: `SELECT count(*)::int AS n FROM ${table}`, bindings: [] }]);
      expect(state.n).to.equal(0);
      await trx.commit({ sql: `INSERT INTO ${table} (k, n) VALUES (?, 3)`, bindings: ['next'] });
    });
    expect(await rowsIn()).to.deep.equal([['next', 3]]);
  });

  it('a body that throws between the round trips rolls back; one that forgets COMMIT is an error, not a silent rollback', async () => {
    const thrown = inBatchTransaction(knex(), async (trx) => {
      await trx.read([{ sql: `INSERT INTO ${table} (k, n) VALUES (?, 1)`, bindings: ['x'] }]);
      throw new Error('decided against it');
    });
    await expect(thrown).to.be.rejectedWith('decided against it');
    const forgot = inBatchTransaction(knex(), async (trx: BatchTransaction) => {
      await trx.read([{ sql: `INSERT INTO ${table} (k, n) VALUES (?, 1)`, bindings: ['y'] }]);
    });
    await expect(forgot).to.be.rejectedWith('without COMMIT');
    expect(await rowsIn()).to.deep.equal([]);
  });

  it('a session killed between the round trips is a transient fault; the pool hands the next batch a live connection', async () => {
    const failing = inBatchTransaction(knex(), async (trx) => {
      const [[me]] = await trx.read([{ sql: `INSERT INTO ${table} (k, n) VALUES (?, 1) RETURNING pg_backend_pid() AS pid`, bindings: ['lost'] }]);
      await knex().raw('SELECT pg_terminate_backend(?)', [me.pid as number]);
      await trx.commit({ sql: `UPDATE ${table} SET n = 2 WHERE k = ?`, bindings: ['lost'] });
    });
    const err = await failing.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, 'the batch must fail').to.be.instanceOf(Error);
    expect(isTransientFault(err), String(err)).to.equal(true);
    expect(await rowsIn()).to.deep.equal([]);
    for (let i = 0; i < 3; i++) {
      await inBatchTransaction(knex(), async (trx) => trx.commit({ sql: `INSERT INTO ${table} (k, n) VALUES (?, ?)`, bindings: [`after-${i}`, i] }));
    }
    expect(await rowsIn()).to.deep.equal([['after-0', 0], ['after-1', 1], ['after-2', 2]]);
  });
});
