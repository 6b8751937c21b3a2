import { Knex } from 'knex';
import { Run } from '../domain/run';
import { Totals } from '../domain/totals';
import { fromDbRun, toDbRun, toDbTotals } from './mapping';
import { T } from './tables';

export async function insertRun(trx: Knex.Transaction, run: Run): Promise<void> {
  await trx(T.runs).insert(toDbRun(run));
}

export async function findRun(db: Knex, namespace: string, id: string): Promise<Run | null> {
  const row = await db(T.runs).where({ namespace, id }).first();
  return row ? fromDbRun(row) : null;
}

export async function listRunsOfCharges(db: Knex, namespace: string, chargeIds: string[]): Promise<Run[]> {
  const rows = await db(T.runs)
    .where({ namespace })
    .whereIn('charge_id', chargeIds)
    .orderBy([{ column: 'service_period_to' }, { column: 'created_at' }, { column: 'id' }]);
  return rows.map(fromDbRun);
}

export async function updateRunTotals(trx: Knex.Transaction, run: Pick<Run, 'namespace' | 'id'>, totals: Totals, now: Date): Promise<void> {
  await trx(T.runs).where({ namespace: run.namespace, id: run.id }).update({ ...toDbTotals(totals), updated_at: now });
}

export async function setRunInvoiceLine(
  trx: Knex.Transaction,
  run: Pick<Run, 'namespace' | 'id'>,
  lineId: string,
  invoiceId: string,
  totals: Totals,
  now: Date,
): Promise<void> {
  await trx(T.runs)
    .where({ namespace: run.namespace, id: run.id })
    .update({ line_id: lineId, invoice_id: invoiceId, ...toDbTotals(totals), updated_at: now });
}

/** The run that already carries this line, in any namespace: line ids are globally unique. */
export async function findRunIdByLine(trx: Knex.Transaction, lineId: string): Promise<string | null> {
  const row = await trx(T.runs).where({ line_id: lineId }).first('id');
  return row ? row.id : null;
}
