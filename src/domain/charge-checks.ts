import { Charge } from './charge';
import { DomainError } from './errors';
import { Run } from './run';

export interface LockedCharge {
  charge: Charge;
  run: Run | null;
}

/** The checks after "exists", in SPEC §3's order: not deleted → migrated. Pure, so a batch makes them on its locked rows too. */
export function requireLive(charge: Charge): void {
  if (charge.status === 'deleted' || charge.deletedAt !== null) {
    throw new DomainError('charge_deleted', `charge is deleted [charge_id=${charge.id}]`);
  }
  requireMigrated(charge);
}

/** A charge whose realizations are still in the legacy tables waits for the migration job (retried). */
export function requireMigrated(charge: Charge): void {
  if (!charge.migrated) {
    throw new DomainError('charge_not_migrated', `charge still has legacy realizations; run migrate-legacy-flat-fees [charge_id=${charge.id}]`);
  }
}

/** A job that cannot go on without a current run fails until one exists (retried). */
export function requireRun(charge: Pick<Charge, 'id'>, run: Run | null): Run {
  if (!run) throw new DomainError('current_run_required', `charge has no current realization run yet [charge_id=${charge.id}]`);
  return run;
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
