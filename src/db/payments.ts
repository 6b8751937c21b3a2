import { Knex } from 'knex';
import { Payment } from '../domain/payment';
import { fromDbPayment, toDbPayment } from './mapping';
import { T } from './tables';

export async function listPaymentsOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<Payment[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.payments).where({ namespace }).whereIn('run_id', runIds);
  return rows.map(fromDbPayment);
}

export async function findPaymentOfRun(db: Knex, namespace: string, runId: string): Promise<Payment | null> {
  const row = await db(T.payments).where({ namespace, run_id: runId }).first();
  return row ? fromDbPayment(row) : null;
}

export async function insertPayment(trx: Knex.Transaction, payment: Payment): Promise<void> {
  await trx(T.payments).insert(toDbPayment(payment));
}

export async function markPaymentSettled(trx: Knex.Transaction, payment: Payment): Promise<void> {
  await trx(T.payments).where({ namespace: payment.namespace, id: payment.id }).update({
    status: payment.status,
    settled_transaction_group_id: payment.settledTransactionGroupId,
    settled_at: payment.settledAt,
    updated_at: payment.updatedAt,
  });
}
