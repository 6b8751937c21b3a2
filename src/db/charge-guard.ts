import { Knex } from 'knex';
import { Charge } from '../domain/charge';
import { DomainError, NotFoundError } from '../domain/errors';
import { Run } from '../domain/run';
import { lockCharge } from './charges';
import { findRun } from './runs';

export interface LockedCharge {
  charge: Charge;
  run: Run | null;
}

/**
 * Locks the charge (the per-charge serialization point) and applies the checks every job shares, in
 * SPEC §3's order: exists → not deleted → migrated. The current run is loaded when there is one.
 */
export async function lockChargeForJob(trx: Knex.Transaction, namespace: string, chargeId: string): Promise<LockedCharge> {
  const charge = await lockExistingCharge(trx, namespace, chargeId);
  requireLive(charge);
  return { charge, run: await loadCurrentRun(trx, charge) };
}

/** The checks after "exists", in SPEC §3's order: not deleted → migrated. Pure, so a batch makes them on its locked rows too. */
export function requireLive(charge: Charge): void {
  if (charge.status === 'deleted' || charge.deletedAt !== null) {
    throw new DomainError('charge_deleted', `charge is deleted [charge_id=${charge.id}]`);
  }
  requireMigrated(charge);
}

/** Locks the charge row, or fails with charge_not_found. */
export async function lockExistingCharge(trx: Knex.Transaction, namespace: string, chargeId: string): Promise<Charge> {
  const charge = await lockCharge(trx, namespace, chargeId);
  if (!charge) throw new NotFoundError('charge_not_found', `charge not found [namespace=${namespace} charge_id=${chargeId}]`);
  return charge;
}

/** A charge whose realizations are still in the legacy tables waits for the migration job (retried). */
export function requireMigrated(charge: Charge): void {
  if (!charge.migrated) {
    throw new DomainError('charge_not_migrated', `charge still has legacy realizations; run migrate-legacy-flat-fees [charge_id=${charge.id}]`);
  }
}

/** As lockChargeForJob, and the job cannot go on without a current run (retried until one exists). */
export async function lockChargeWithRun(trx: Knex.Transaction, namespace: string, chargeId: string): Promise<{ charge: Charge; run: Run }> {
  const { charge, run } = await lockChargeForJob(trx, namespace, chargeId);
  return { charge, run: requireRun(charge, run) };
}

/** A job that cannot go on without a current run fails until one exists (retried). */
export function requireRun(charge: Pick<Charge, 'id'>, run: Run | null): Run {
  if (!run) throw new DomainError('current_run_required', `charge has no current realization run yet [charge_id=${charge.id}]`);
  return run;
}

/** A pointer that names no run is corrupt data: fail loudly, never read it as "no run". */
export async function loadCurrentRun(db: Knex, charge: Charge): Promise<Run | null> {
  if (charge.currentRealizationRunId === null) return null;
  return requirePointedRun(charge, await findRun(db, charge.namespace, charge.currentRealizationRunId));
}

/** The run the charge's pointer names, as loaded: it must exist and belong to the charge. */
export function requirePointedRun(charge: Charge, run: Run | null): Run | null {
  if (charge.currentRealizationRunId === null) return null;
  if (!run || run.chargeId !== charge.id) throw currentRunNotLoaded(charge);
  return run;
}

export function currentRunNotLoaded(charge: Pick<Charge, 'id' | 'currentRealizationRunId'>): DomainError {
  return new DomainError(
    'current_realization_run_not_loaded',
    `current realization run [id=${charge.currentRealizationRunId}] not loaded for flat fee charge [id=${charge.id}]`,
  );
}
