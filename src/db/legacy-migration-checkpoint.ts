import { Knex } from 'knex';
import { MigrationCounts } from '../domain/legacy-migration';
import { T } from './tables';

// The migration job's checkpoint: what it moved so far, added by each batch in its own transaction.
// A worker killed at any point leaves either the batch and its checkpoint, or neither.

const TABLE = T.legacyMigrations;

export interface Checkpoint {
  counts: MigrationCounts;
  batches: number;
}

/** What every earlier delivery of this key moved, over all its lanes. */
export async function readCheckpoint(db: Knex, key: string): Promise<Checkpoint> {
  const row = await db(TABLE)
    .where({ key })
    .first(
      db.raw('coalesce(sum(charges), 0) AS charges'),
      db.raw('coalesce(sum(runs), 0) AS runs'),
      db.raw('coalesce(sum(allocations), 0) AS allocations'),
      db.raw('coalesce(sum(detailed_lines), 0) AS detailed_lines'),
      db.raw('coalesce(sum(invoiced_usages), 0) AS invoiced_usages'),
      db.raw('coalesce(sum(payments), 0) AS payments'),
      db.raw('coalesce(sum(batches), 0) AS batches'),
    );
  return {
    batches: Number(row.batches),
    counts: {
      charges: Number(row.charges),
      runs: Number(row.runs),
      allocations: Number(row.allocations),
      detailedLines: Number(row.detailed_lines),
      invoicedUsages: Number(row.invoiced_usages),
      payments: Number(row.payments),
    },
  };
}

/** Adds a batch to its lane's row (created by the lane's first batch). */
export async function saveBatch(trx: Knex.Transaction, key: string, lane: number, namespace: string | null, moved: MigrationCounts): Promise<void> {
  const row = {
    key,
    lane,
    namespace,
    charges: moved.charges,
    runs: moved.runs,
    allocations: moved.allocations,
    detailed_lines: moved.detailedLines,
    invoiced_usages: moved.invoicedUsages,
    payments: moved.payments,
    batches: 1,
  };
  const add = (column: keyof typeof row) => trx.raw(`${TABLE}.${column} + excluded.${column}`);
  await trx(TABLE)
    .insert(row)
    .onConflict(['key', 'lane'])
    .merge({
      charges: add('charges'),
      runs: add('runs'),
      allocations: add('allocations'),
      detailed_lines: add('detailed_lines'),
      invoiced_usages: add('invoiced_usages'),
      payments: add('payments'),
      batches: add('batches'),
      updated_at: trx.fn.now(),
    });
}

export async function markFinished(db: Knex, key: string): Promise<void> {
  await db(TABLE).where({ key }).update({ finished_at: db.fn.now(), updated_at: db.fn.now() });
}
