import * as allocateJob from '../../jobs/allocate-credit';
import { Charge } from '../domain/charge';
import { allocateCredit, CreditRealization } from '../domain/credit';
import { Run } from '../domain/run';
import type { TableChanges } from '../domain/journal';
import { Totals, TotalsJson, totalsToJson } from '../domain/totals';
import { realizationsInsert, realizationsOf, realizationsOfCurrentRuns, runTotalsUpdate } from '../db/batch-allocate';
import { chargeStatusUpdate, lockChargesWithRuns, lockedOf } from '../db/batch-charges';
import type { LockedCharge } from '../db/charge-guard';
import { T } from '../db/tables';
import { fastUlid } from './ids';
import { chargeStates, chargeWithRun, FreshApplied, parseOrFallBack, ruleOrFallBack, SetBasedKind, uniqueCharges } from './set-based';

/** What one charge looks like while the batch's jobs are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  run: Run;
  realizations: CreditRealization[];
  /** The last row time used on this charge: each job gets a later one, so created_at orders jobs. */
  clock: number;
  /** The run's totals as the jobs so far left them. */
  totals: Totals;
  runTotalsChanged: boolean;
  becameFinal: boolean;
}

/** Each fresh job's charge, checked as the per-job handler would, with its run and realizations. */
function statesOf(payloads: allocateJob.Payload[], locked: Map<string, LockedCharge>, realizations: Map<string, CreditRealization[]>): Map<string, ChargeState> {
  return chargeStates(payloads, locked, chargeWithRun, ({ charge, run }): ChargeState => {
    const existing = realizations.get(run.id) ?? [];
    const clock = existing.reduce((latest, r) => Math.max(latest, r.createdAt.getTime()), 0);
    return { charge, run, realizations: existing, clock, totals: run.totals, runTotalsChanged: false, becameFinal: false };
  });
}

/** One job applied to its charge's in-memory state with the same pure rule the per-job handler uses. */
function applyToState(state: ChargeState, p: allocateJob.Payload, fresh: CreditRealization[]): FreshApplied {
  const now = new Date(Math.max(Date.now(), state.clock + 1));
  state.clock = now.getTime();
  const charge = state.becameFinal ? { ...state.charge, status: 'final' as const } : state.charge;
  const outcome = ruleOrFallBack(p.chargeId, () =>
    allocateCredit({ charge, run: state.run, existing: state.realizations, batch: p.realizations.map(allocateJob.toInput), newId: () => fastUlid(now.getTime()), now }),
  );
  const totalsBefore = totalsToJson(state.totals);
  state.realizations.push(...outcome.realizations);
  fresh.push(...outcome.realizations);
  if (outcome.runTotals) {
    state.totals = outcome.runTotals;
    state.runTotalsChanged = true;
  }
  if (outcome.chargeBecomesFinal) state.becameFinal = true;
  const result = {
    chargeId: charge.id,
    runId: state.run.id,
    realizationIds: outcome.realizations.map((r) => r.id),
    status: outcome.chargeBecomesFinal ? 'final' : charge.status,
  };
  const changes: TableChanges = {};
  if (outcome.chargeBecomesFinal) changes[T.charges] = { updated: 1 };
  if (outcome.realizations.length > 0) changes[T.realizations] = { inserted: outcome.realizations.length };
  if (outcome.runTotals) changes[T.runs] = { updated: 1 };
  return { result, runId: state.run.id, changes, totalsBefore, totalsAfter: totalsToJson(state.totals) };
}

/**
 * allocate-credit with set-based statements: lock every charge with its run and load the runs'
 * realizations (two statements, sent with the key claim), decide every job in memory in arrival
 * order, and return the writes (realizations, run totals, charge statuses) for the batch's single
 * write statement.
 */
export const allocateInBatch: SetBasedKind<allocateJob.Payload> = {
  parse: (data) => parseOrFallBack(allocateJob.schema, data),
  reads(payloads) {
    const charges = uniqueCharges(payloads);
    return [lockChargesWithRuns(charges), realizationsOfCurrentRuns(charges)];
  },
  decide([locked, realizations], fresh) {
    const states = statesOf(fresh, lockedOf(locked), realizationsOf(realizations));
    const inserted: CreditRealization[] = [];
    const applied = fresh.map((p) => applyToState(states.get(p.chargeId)!, p, inserted));
    const changed = [...states.values()];
    const writes = [
      realizationsInsert(inserted),
      runTotalsUpdate(changed.filter((s) => s.runTotalsChanged).map((s) => ({ run: s.run, totals: s.totals, now: new Date(s.clock) }))),
      chargeStatusUpdate(changed.filter((s) => s.becameFinal).map((s) => ({ charge: s.charge, status: 'final' as const, now: new Date(s.clock) }))),
    ];
    return { applied, writes };
  },
};
