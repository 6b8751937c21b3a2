import * as allocateJob from '../../jobs/allocate-credit';
import { Charge } from '../domain/charge';
import { allocateCredit, CreditRealization } from '../domain/credit';
import { Run } from '../domain/run';
import type { TableChanges } from '../domain/journal';
import { Totals, TotalsJson, totalsToJson } from '../domain/totals';
import { chargeStatusUpdate, LockedCharge, lockChargesWithRuns, lockedOf, realizationsInsert, realizationsOf, realizationsOfCurrentRuns, runTotalsUpdate, Scoped } from '../db/batch-allocate';
import { SqlPart } from '../db/batch-sql';
import type { Row } from '../db/batch-transaction';
import { T } from '../db/tables';
import { validate } from '../validation';
import { fastUlid } from './ids';
import { JobResult } from './job-context';

/**
 * Thrown when a batch holds anything but the plain success path (a replay conflict, a bad payload,
 * a missing charge or run, a domain rule): the caller rolls the batch back and redoes it one job per
 * savepoint, where the per-job handler gives that job its exact error.
 */
export class BatchFallback extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`batch falls back to one savepoint per job: ${reason}`, options);
    this.name = 'BatchFallback';
  }
}

/** A job kind with a set-based path (batch-apply.ts runs it). */
export interface SetBasedKind<P> {
  /** The validated payload; BatchFallback when it is not valid. */
  parse(data: unknown): P;
  /** Statements reading what the jobs need: sent with the key claim, after it, in one round trip. */
  reads(payloads: P[]): SqlPart[];
  /** Decides every fresh job, in order, from the reads' rows; the effects' writes for the single write statement. */
  decide(rows: Row[][], fresh: P[]): { applied: FreshApplied[]; writes: Array<SqlPart | null> };
}

/** A fresh job's result and what its journal entry records: the same facts the per-job path reads back. */
export interface FreshApplied {
  result: JobResult;
  runId: string;
  changes: TableChanges;
  totalsBefore: TotalsJson;
  totalsAfter: TotalsJson;
}

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

function guard(charge: Charge | undefined, namespace: string, chargeId: string): Charge & { currentRealizationRunId: string } {
  if (!charge || charge.namespace !== namespace) throw new BatchFallback(`charge ${chargeId} not found`);
  if (charge.status === 'deleted' || charge.deletedAt !== null) throw new BatchFallback(`charge ${chargeId} is deleted`);
  if (!charge.migrated) throw new BatchFallback(`charge ${chargeId} is not migrated`);
  if (charge.currentRealizationRunId === null) throw new BatchFallback(`charge ${chargeId} has no current run`);
  return charge as Charge & { currentRealizationRunId: string };
}

/** Each fresh job's charge, guarded as the per-job handler would, with its run and realizations. */
function statesOf(payloads: allocateJob.Payload[], locked: Map<string, LockedCharge>, realizations: Map<string, CreditRealization[]>): Map<string, ChargeState> {
  const states = new Map<string, ChargeState>();
  for (const k of uniqueScoped(payloads.map((p) => ({ namespace: p.namespace, id: p.chargeId })))) {
    const found = locked.get(k.id);
    const charge = guard(found?.charge, k.namespace, k.id);
    if (!found?.run || found.run.chargeId !== charge.id) throw new BatchFallback(`current run of ${charge.id} not loaded`);
    const run = found.run;
    const existing = realizations.get(run.id) ?? [];
    const clock = existing.reduce((latest, r) => Math.max(latest, r.createdAt.getTime()), 0);
    states.set(charge.id, { charge, run, realizations: existing, clock, totals: run.totals, runTotalsChanged: false, becameFinal: false });
  }
  return states;
}

function uniqueScoped(keys: Scoped[]): Scoped[] {
  const seen = new Map<string, Scoped>();
  for (const k of keys) seen.set(`${k.namespace}\u0000${k.id}`, k);
  return [...seen.values()];
}

/** One job applied to its charge's in-memory state with the same pure rule the per-job handler uses. */
function applyToState(state: ChargeState, p: allocateJob.Payload, fresh: CreditRealization[]): FreshApplied {
  const now = new Date(Math.max(Date.now(), state.clock + 1));
  state.clock = now.getTime();
  const charge = state.becameFinal ? { ...state.charge, status: 'final' as const } : state.charge;
  let outcome;
  try {
    outcome = allocateCredit({ charge, run: state.run, existing: state.realizations, batch: p.realizations.map(allocateJob.toInput), newId: () => fastUlid(now.getTime()), now });
  } catch (err) {
    throw new BatchFallback(`a job on charge ${p.chargeId} broke a rule`, { cause: err });
  }
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
  parse(data) {
    try {
      return validate(allocateJob.schema, data);
    } catch (err) {
      throw new BatchFallback('a payload is invalid', { cause: err });
    }
  },
  reads(payloads) {
    const charges = uniqueScoped(payloads.map((p) => ({ namespace: p.namespace, id: p.chargeId })));
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
