import type { Knex } from 'knex';

// Exactly-once effect (SPEC §3): a job's key is claimed in the same transaction as its effect, and
// the stored result answers every later delivery of the same key.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('flat_fee_idempotency_keys', (t) => {
    t.text('queue').notNullable();
    t.text('namespace').notNullable();
    t.text('key').notNullable();
    t.specificType('payload_hash', 'char(64)').notNullable();
    t.jsonb('result').nullable();
    t.text('job_id').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['queue', 'namespace', 'key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('flat_fee_idempotency_keys');
}
