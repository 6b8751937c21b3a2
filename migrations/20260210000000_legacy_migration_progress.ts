import type { Knex } from 'knex';

// Support for the migrate-legacy-flat-fees job (SPEC §7). What the job moved is checkpointed in
// Postgres by each batch's own transaction, so a killed worker resumes with exact counts (where to
// resume needs no record: a migrated charge is marked migrated_to_runs in the same transaction).
// Creates a table and an index only: no rows move here.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('flat_fee_legacy_migrations', (t) => {
    // The job's idempotency key: a redelivery of the same job adds to these rows. One row per lane
    // (batches run side by side), so concurrent batches never wait on each other's checkpoint.
    t.text('key').notNullable();
    t.integer('lane').notNullable();
    t.primary(['key', 'lane']);
    t.text('namespace').nullable();
    for (const column of ['charges', 'runs', 'allocations', 'detailed_lines', 'invoiced_usages', 'payments']) {
      t.bigInteger(column).notNullable().defaultTo(0);
    }
    t.integer('batches').notNullable().defaultTo(0);
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true }).nullable();
  });
  // The legacy detailed lines are found by charge only through a partial index (live rows); the job
  // copies soft-deleted ones too, and without this index every batch would scan the whole table.
  // Nothing writes the legacy tables any more, so the SHARE lock of a plain CREATE INDEX blocks no one.
  await knex.raw('CREATE INDEX IF NOT EXISTS charge_flat_fee_detailed_line_charge_id ON charge_flat_fee_detailed_line (charge_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS charge_flat_fee_detailed_line_charge_id');
  await knex.schema.dropTable('flat_fee_legacy_migrations');
}
