import { Knex } from 'knex';
import { Charge, ChargeStatus } from '../domain/charge';
import { fromDbCharge, toDbCharge } from './mapping';
import { mapPgError } from './pg-errors';
import { T } from './tables';

export async function insertCharge(trx: Knex.Transaction, charge: Charge): Promise<void> {
  try {
    await trx(T.charges).insert(toDbCharge(charge));
  } catch (err) {
    const constraint = (err as { constraint?: string }).constraint;
    throw mapPgError(err, constraint === 'charge_flat_fees_unique_reference' ? 'unique_reference_id_conflict' : 'charge_already_exists');
  }
}

/** Locks the charge row: every job on one charge serializes here (SPEC §3 "Order"). */
export async function lockCharge(trx: Knex.Transaction, namespace: string, id: string): Promise<Charge | null> {
  const row = await trx(T.charges).where({ namespace, id }).forUpdate().first();
  return row ? fromDbCharge(row) : null;
}

export async function findCharge(db: Knex, namespace: string, id: string): Promise<Charge | null> {
  const row = await db(T.charges).where({ namespace, id }).first();
  return row ? fromDbCharge(row) : null;
}

export async function updateChargeStatus(
  trx: Knex.Transaction,
  charge: Pick<Charge, 'namespace' | 'id'>,
  status: ChargeStatus,
  now: Date,
  deletedAt?: Date,
): Promise<void> {
  await trx(T.charges)
    .where({ namespace: charge.namespace, id: charge.id })
    .update({ status, status_detailed: status, updated_at: now, ...(deletedAt ? { deleted_at: deletedAt } : {}) });
}

export async function pointAtRun(trx: Knex.Transaction, charge: Pick<Charge, 'namespace' | 'id'>, runId: string, now: Date): Promise<void> {
  await trx(T.charges)
    .where({ namespace: charge.namespace, id: charge.id })
    .update({ current_realization_run_id: runId, updated_at: now });
}
