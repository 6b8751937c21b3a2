import type { Knex } from 'knex';

// The effect journal: one row per job outcome (applied, replayed, rejected), so "what did each
// delivery change?" is answered from the database. Rows are billing evidence: never updated, and
// deleted only once their charge is gone (the trigger below enforces both).

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('flat_fee_job_journal', (t) => {
    t.bigIncrements('id').primary();
    t.text('queue').notNullable();
    t.text('job_id').nullable();
    t.integer('attempt').nullable();
    t.text('idempotency_key').notNullable();
    t.specificType('payload_hash', 'char(64)').notNullable();
    t.text('namespace').notNullable();
    // Text, not a foreign key: a rejected job may name a charge that does not (yet) exist.
    t.text('charge_id').nullable();
    t.text('run_id').nullable();
    t.text('outcome').notNullable();
    t.text('error_code').nullable();
    t.text('error_message').nullable();
    t.jsonb('changes').notNullable().defaultTo('{}');
    t.jsonb('totals_before').nullable();
    t.jsonb('totals_after').nullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).notNullable();
    t.index(['namespace', 'charge_id', 'id'], 'flat_fee_job_journal_charge');
  });
  await knex.raw(`ALTER TABLE flat_fee_job_journal ADD CONSTRAINT flat_fee_job_journal_outcome
    CHECK (outcome IN ('applied', 'replayed', 'rejected') AND (outcome = 'rejected') = (error_code IS NOT NULL))`);
  await knex.raw(`
    CREATE FUNCTION flat_fee_job_journal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'flat_fee_job_journal is append-only (row %)', OLD.id;
      END IF;
      IF EXISTS (SELECT 1 FROM charge_flat_fees c WHERE c.namespace = OLD.namespace AND c.id = OLD.charge_id) THEN
        RAISE EXCEPTION 'journal rows live as long as their charge (charge %)', OLD.charge_id;
      END IF;
      RETURN OLD;
    END $$`);
  await knex.raw(`CREATE TRIGGER flat_fee_job_journal_guard BEFORE UPDATE OR DELETE ON flat_fee_job_journal
    FOR EACH ROW EXECUTE FUNCTION flat_fee_job_journal_guard()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('flat_fee_job_journal');
  await knex.raw('DROP FUNCTION flat_fee_job_journal_guard()');
}
