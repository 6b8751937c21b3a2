import * as activateJob from '../../jobs/activate-charge';
import * as createJob from '../../jobs/create-charge';
import { Charge, transition } from '../domain/charge';
import type { TableChanges } from '../domain/journal';
import { provisionRun, Run } from '../domain/run';
import { totalsToJson } from '../domain/totals';
import { lockChargesWithRuns, lockedOf } from '../db/batch-charges';
import { chargesGoLive, chargesInsert, receiptsInsert, runsInsert } from '../db/batch-provision';
import { StoredReceipt } from '../db/receipts';
import { T } from '../db/tables';
import { fastUlid } from './ids';
import { BatchFallback, chargeForJob, chargeStates, FreshApplied, parseOrFallBack, ruleOrFallBack, SetBasedKind, uniqueCharges } from './set-based';

/**
 * create-charge with set-based statements: nothing to read but the key claim; each charge is built
 * in memory with the handler's own functions (proration, receipt, the run of a charge that is live
 * from creation) and every charge, run and receipt goes into the batch's single write statement.
 * A charge id already taken (in the table or twice in the batch) sends the batch to savepoints,
 * where the per-job handler answers charge_already_exists.
 */
export const createInBatch: SetBasedKind<createJob.Payload> = {
  parse: (data) => parseOrFallBack(createJob.schema, data),
  reads: () => [],
  decide(_rows, fresh) {
    const charges: Charge[] = [];
    const runs: Run[] = [];
    const receipts: StoredReceipt[] = [];
    const seen = new Set<string>();
    const applied = fresh.map((p): FreshApplied => {
      const now = new Date();
      const clock = { now, newId: () => fastUlid() };
      const proration = ruleOrFallBack(p.id ?? '(new)', () => createJob.prorationOf(p));
      const charge = createJob.chargeFromPayload(p, clock, proration);
      if (seen.has(charge.id)) throw new BatchFallback(`charge ${charge.id} is created twice in one batch`);
      seen.add(charge.id);
      const run = charge.status === 'active' ? provisionRun(charge, fastUlid(), now) : null;
      charges.push({ ...charge, currentRealizationRunId: run?.id ?? null });
      if (run) runs.push(run);
      receipts.push({ ...proration.receipt, chargeId: charge.id, namespace: charge.namespace, createdAt: now });
      // What the per-job handler writes: the charge, its receipt, and for a live charge its run and the pointer to it.
      const changes: TableChanges = { [T.charges]: run ? { inserted: 1, updated: 1 } : { inserted: 1 }, [T.receipts]: { inserted: 1 } };
      if (run) changes[T.runs] = { inserted: 1 };
      return { result: createJob.resultOf(charge, run?.id ?? null), runId: run?.id ?? null, changes, totalsBefore: null, totalsAfter: run ? totalsToJson(run.totals) : null };
    });
    return { applied, writes: [chargesInsert(charges), runsInsert(runs), receiptsInsert(receipts)] };
  },
};

interface ActivationState {
  charge: Charge;
  run: Run | null;
  changed: boolean;
}

/** One activation applied to its charge's in-memory state as the per-job handler would apply it. */
function activate(state: ActivationState, p: activateJob.Payload, newRuns: Run[]): FreshApplied {
  const now = new Date();
  const before = state.run;
  const changes: TableChanges = {};
  let updated = 0;
  // Early: the job is delayed, or resumes from its delay; the per-job handler knows which.
  const activatedAt = activateJob.activationOf(state.charge, p, now, false);
  if (activatedAt === 'wait') throw new BatchFallback(`charge ${state.charge.id} is activated before its invoiceAt`);
  if (activatedAt) {
    const status = ruleOrFallBack(state.charge.id, () => transition(state.charge, 'active'));
    state.charge = { ...state.charge, status, statusDetailed: status, updatedAt: now };
    updated++;
  }
  let provisioned = false;
  if (!state.run) {
    state.run = provisionRun(state.charge, fastUlid(), now);
    state.charge = { ...state.charge, currentRealizationRunId: state.run.id, updatedAt: now };
    newRuns.push(state.run);
    changes[T.runs] = { inserted: 1 };
    provisioned = true;
    updated++;
  }
  if (updated > 0) {
    changes[T.charges] = { updated };
    state.changed = true;
  }
  return { result: activateJob.resultOf(state.charge, state.run, provisioned, activatedAt), runId: state.run.id, changes, totalsBefore: before ? totalsToJson(before.totals) : null, totalsAfter: totalsToJson(state.run.totals) };
}

/**
 * activate-charge with set-based statements: lock every charge with its run (sent with the key
 * claim), activate due credit_only charges and provision missing runs in memory, and write the new
 * runs and the charges' status and run pointer in the single write statement. An activation before
 * invoiceAt (delayed, or resumed from its delay) goes to savepoints.
 */
export const activateInBatch: SetBasedKind<activateJob.Payload> = {
  parse: (data) => parseOrFallBack(activateJob.schema, data),
  reads: (payloads) => [lockChargesWithRuns(uniqueCharges(payloads))],
  decide([lockedRows], fresh) {
    const locked = lockedOf(lockedRows);
    const states = chargeStates(fresh, locked, chargeForJob, (found): ActivationState => ({ ...found, changed: false }));
    const newRuns: Run[] = [];
    const applied = fresh.map((p) => activate(states.get(p.chargeId)!, p, newRuns));
    const changed = [...states.values()].filter((s) => s.changed).map((s) => s.charge);
    return { applied, writes: [runsInsert(newRuns), chargesGoLive(changed)] };
  },
};
