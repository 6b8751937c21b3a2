import * as yup from 'yup';
import { allocateCredit, REALIZATION_TYPES, RealizationInput } from '../src/domain/credit';
import { money } from '../src/domain/money';
import { parseInstant } from '../src/domain/time';
import { Charge } from '../src/domain/charge';
import { CreditRealization } from '../src/domain/credit';
import type { TableChanges } from '../src/domain/journal';
import { Run } from '../src/domain/run';
import { Totals, TotalsJson, totalsToJson } from '../src/domain/totals';
import { realizationsInsert, realizationsOf, realizationsOfCurrentRuns, runTotalsUpdate } from '../src/db/batch-allocate';
import { chargeStatusUpdate, lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { ChargeStates, chargeWithRun, decideEach, FreshApplied, JobKind, uniqueCharges } from '../src/domain/decision';
import { amount, idempotencyKey, isDecimalString, jsonObject, period, strictObject, text, ulid } from '../src/validation';

export const name = 'allocate-credit';

const realizationSchema = strictObject({
  type: yup.string().oneOf(REALIZATION_TYPES).required(),
  amount: amount().required(),
  transactionGroupId: text().required(),
  correctsRealizationId: ulid().optional(),
  lineId: ulid().optional(),
  servicePeriod: period().optional(),
  annotations: jsonObject().optional(),
}).test('sign-by-type', '', function (r) {
  // Signs by realization type are validation (SPEC §3): allocation > 0, correction <= 0.
  // A malformed amount is amount()'s error to report; Decimal would throw on it here.
  if (!r || !isDecimalString(r.amount)) return true;
  const value = money(r.amount);
  if (r.type === 'allocation' && !value.gt(0)) return this.createError({ path: `${this.path}.amount`, message: `${this.path}.amount must be > 0 for an allocation` });
  if (r.type === 'correction' && value.gt(0)) return this.createError({ path: `${this.path}.amount`, message: `${this.path}.amount must be <= 0 for a correction` });
  if (r.type === 'correction' && !r.correctsRealizationId) {
    return this.createError({ path: `${this.path}.correctsRealizationId`, message: `${this.path}.correctsRealizationId is required for a correction` });
  }
  if (r.type === 'allocation' && r.correctsRealizationId) {
    return this.createError({ path: `${this.path}.correctsRealizationId`, message: `${this.path}.correctsRealizationId is only for corrections` });
  }
  return true;
});

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  realizations: yup.array(realizationSchema.required()).min(1, '${path} must hold at least one realization').max(1000).required(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

export function toInput(r: Payload['realizations'][number]): RealizationInput {
  return {
    type: r.type,
    amount: money(r.amount),
    transactionGroupId: r.transactionGroupId,
    correctsRealizationId: r.correctsRealizationId,
    lineId: r.lineId,
    servicePeriod: r.servicePeriod ? { from: parseInstant(r.servicePeriod.from), to: parseInstant(r.servicePeriod.to) } : undefined,
    annotations: r.annotations,
  };
}

/** What one charge looks like while the batch's jobs are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  run: Run;
  realizations: CreditRealization[];
  /** The last row time used on this charge: each job gets a later one, so created_at orders jobs. */
  clock: number;
  /** The run's totals as the jobs so far left them, and as the journal shows them (shared by consecutive entries while unchanged). */
  totals: Totals;
  totalsJson: TotalsJson;
  runTotalsChanged: boolean;
  becameFinal: boolean;
}

/** One job applied to its charge's in-memory state; the pure rule throws before anything changes. */
function applyToState(state: ChargeState, p: Payload, fresh: CreditRealization[]): FreshApplied {
  const now = new Date(Math.max(Date.now(), state.clock + 1));
  const charge = state.becameFinal ? { ...state.charge, status: 'final' as const } : state.charge;
  const outcome = allocateCredit({ charge, run: state.run, existing: state.realizations, batch: p.realizations.map(toInput), newId: () => fastUlid(now.getTime()), now });
  state.clock = now.getTime();
  const totalsBefore = state.totalsJson;
  state.realizations.push(...outcome.realizations);
  fresh.push(...outcome.realizations);
  if (outcome.runTotals) {
    state.totals = outcome.runTotals;
    state.totalsJson = totalsToJson(outcome.runTotals);
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
  return { result, runId: state.run.id, changes, totalsBefore, totalsAfter: state.totalsJson };
}

/** Locks every charge with its run and loads the runs' realizations (two statements, sent with the key claim). */
export function reads(payloads: Payload[]) {
  const charges = uniqueCharges(payloads);
  return [...lockChargesWithRuns(charges), realizationsOfCurrentRuns(charges)];
}

/** Decides every job in arrival order, and writes the realizations, run totals and final charges. */
export const decide: JobKind<Payload>['decide'] = ([locked, runRows, realizationRows], fresh) => {
  const realizations = realizationsOf(realizationRows);
  const states = new ChargeStates(lockedOf(locked, runRows), chargeWithRun, ({ charge, run }): ChargeState => {
    const existing = realizations.get(run.id) ?? [];
    const clock = existing.reduce((latest, r) => Math.max(latest, r.createdAt.getTime()), 0);
    return { charge, run, realizations: existing, clock, totals: run.totals, totalsJson: totalsToJson(run.totals), runTotalsChanged: false, becameFinal: false };
  });
  const inserted: CreditRealization[] = [];
  const decided = decideEach(fresh, (p) => applyToState(states.of(p), p, inserted));
  const changed = states.values();
  const writes = [
    realizationsInsert(inserted),
    runTotalsUpdate(changed.filter((s) => s.runTotalsChanged).map((s) => ({ run: s.run, totals: s.totals, now: new Date(s.clock) }))),
    chargeStatusUpdate(changed.filter((s) => s.becameFinal).map((s) => ({ charge: s.charge, status: 'final' as const, now: new Date(s.clock) }))),
  ];
  return { decided, writes };
};
