import { Knex } from 'knex';
import { InvoicedUsage } from '../domain/invoiced-usage';
import { fromDbUsage, toDbUsage } from './mapping';
import { T } from './tables';

export async function listUsagesOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<InvoicedUsage[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.usages).where({ namespace }).whereIn('run_id', runIds);
  return rows.map(fromDbUsage);
}

export async function findUsageOfRun(db: Knex, namespace: string, runId: string): Promise<InvoicedUsage | null> {
  const row = await db(T.usages).where({ namespace, run_id: runId }).first();
  return row ? fromDbUsage(row) : null;
}

/** One usage per run: a refresh keeps the row's id and created_at. */
export async function upsertUsage(trx: Knex.Transaction, usage: InvoicedUsage): Promise<void> {
  const row = toDbUsage(usage);
  const { id: _id, created_at: _createdAt, ...changes } = row;
  await trx(T.usages).insert(row).onConflict('run_id').merge(changes);
}
