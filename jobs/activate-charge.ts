import * as yup from 'yup';
import { Charge, transition } from '../src/domain/charge';
import type { TableChanges } from '../src/domain/journal';
import { provisionRun, Run } from '../src/domain/run';
import { parseInstant } from '../src/domain/time';
import { totalsToJson } from '../src/domain/totals';
import { lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { chargesGoLive, runsInsert } from '../src/db/batch-provision';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { chargeForJob, ChargeStates, decideEach, DelayJob, FreshApplied, JobKind, uniqueCharges } from '../src/domain/decision';
import { idempotencyKey, instant, strictObject, text, ulid } from '../src/validation';

export const name = 'activate-charge';

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/**
 * When a credit_only charge still `created` goes live: at `at` (or now), or at invoiceAt for a job
 * resuming from its delay; 'wait' for a job that came too early (it is delayed until invoiceAt).
 * null for every other charge: nothing to activate.
 */
export function activationOf(charge: Charge, p: Payload, now: Date, resumedAfterDelay: boolean): Date | 'wait' | null {
  if (charge.settlementMode !== 'credit_only' || charge.status !== 'created') return null;
  const at = p.at ? parseInstant(p.at) : now;
  if (at >= charge.invoiceAt) return at;
  return resumedAfterDelay ? charge.invoiceAt : 'wait';
}

export function resultOf(charge: Charge, run: Run, provisioned: boolean, activatedAt: Date | null) {
  return { chargeId: charge.id, status: charge.status, currentRunId: run.id, provisioned, activatedAt: activatedAt?.toISOString() ?? null };
}

interface ActivationState {
  charge: Charge;
  run: Run | null;
  changed: boolean;
}

/**
 * credit_only charges go live at invoiceAt: an early activation waits (the job is delayed until
 * invoiceAt, not failed) and then activates as of invoiceAt. Invoice modes only get their run
 * provisioned if it is missing. An existing current run is returned unchanged.
 */
function activate(state: ActivationState, p: Payload, resumed: boolean, newRuns: Run[]): FreshApplied {
  const now = new Date();
  const before = state.run;
  const changes: TableChanges = {};
  let updated = 0;
  const activatedAt = activationOf(state.charge, p, now, resumed);
  if (activatedAt === 'wait') throw new DelayJob(state.charge.invoiceAt);
  if (activatedAt) {
    const status = transition(state.charge, 'active');
    state.charge = Object.assign({}, state.charge, { status, statusDetailed: status, updatedAt: now });
    updated++;
  }
  let provisioned = false;
  if (!state.run) {
    state.run = provisionRun(state.charge, fastUlid(), now);
    state.charge = Object.assign({}, state.charge, { currentRealizationRunId: state.run.id, updatedAt: now });
    newRuns.push(state.run);
    changes[T.runs] = { inserted: 1 };
    provisioned = true;
    updated++;
  }
  if (updated > 0) {
    changes[T.charges] = { updated };
    state.changed = true;
  }
  return { result: resultOf(state.charge, state.run, provisioned, activatedAt), runId: state.run.id, changes, totalsBefore: before ? totalsToJson(before.totals) : null, totalsAfter: totalsToJson(state.run.totals) };
}

/** Locks every charge with its run (sent with the key claim). */
export function reads(payloads: Payload[]) {
  return lockChargesWithRuns(uniqueCharges(payloads));
}

/** Activates due credit_only charges and provisions missing runs; writes the new runs and the charges' status and pointer. */
export const decide: JobKind<Payload>['decide'] = ([lockedRows, runRows], fresh, { resumed }) => {
  const states = new ChargeStates(lockedOf(lockedRows, runRows), chargeForJob, (found): ActivationState => Object.assign({}, found, { changed: false }));
  const newRuns: Run[] = [];
  const decided = decideEach(fresh, (p, i) => activate(states.of(p), p, resumed[i], newRuns));
  const changed = states.values().filter((s) => s.changed).map((s) => s.charge);
  return { decided, writes: [runsInsert(newRuns), chargesGoLive(changed)] };
};
