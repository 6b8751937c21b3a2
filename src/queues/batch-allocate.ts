import type { Knex } from 'knex';
import * as allocateJob from '../../jobs/allocate-credit';
import { Charge } from '../domain/charge';
import { allocateCredit, CreditRealization } from '../domain/credit';
import { Run } from '../domain/run';
import type { TableChanges } from '../domain/journal';
import { Totals, TotalsJson, totalsToJson } from '../domain/totals';
import { chargeStatusUpdate, loadRealizations, lockChargesWithRuns, realizationsInsert, runTotalsUpdate, Scoped } from '../db/batch-allocate';
import { SqlPart } from '../db/batch-sql';
import { KeyRef } from '../db/idempotency';
import { T } from '../db/tables';
import { validate } from '../validation';
import { fastUlid } from './batch-ids';
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

export interface FreshJob {
  ref: KeyRef;
  data: unknown;
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

/** Locks the batch's charges with their current runs, then loads the runs' realizations: two statements. */
async function loadStates(trx: Knex.Transaction, payloads: allocateJob.Payload[]): Promise<Map<string, ChargeState>> {
  const chargeKeys = uniqueScoped(payloads.map((p) => ({ namespace: p.namespace, id: p.chargeId })));
  const locked = await lockChargesWithRuns(trx, chargeKeys);
  const guarded = chargeKeys.map((k) => {
    const found = locked.get(k.id);
    const charge = guard(found?.charge, k.namespace, k.id);
    if (!found?.run || found.run.chargeId !== charge.id) throw new BatchFallback(`current run of ${charge.id} not loaded`);
    return { charge, run: found.run };
  });
  const realizations = await loadRealizations(trx, guarded.map(({ run }) => ({ namespace: run.namespace, id: run.id })));
  const states = new Map<string, ChargeState>();
  for (const { charge, run } of guarded) {
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
 * Applies many allocate-credit jobs (keys already claimed) with set-based statements: lock all
 * charges with their runs, load the realizations, decide every job in memory in arrival order, and
 * return the writes (realizations, run totals, charge statuses) for the batch's single statement.
 */
export async function applyAllocations(trx: Knex.Transaction, jobs: FreshJob[]): Promise<{ applied: FreshApplied[]; writes: Array<SqlPart | null> }> {
  const payloads = jobs.map((j) => {
    try {
      return validate(allocateJob.schema, j.data);
    } catch (err) {
      throw new BatchFallback('a payload is invalid', { cause: err });
    }
  });
  const states = await loadStates(trx, payloads);
  const fresh: CreditRealization[] = [];
  const applied = payloads.map((p) => applyToState(states.get(p.chargeId)!, p, fresh));
  const changed = [...states.values()];
  const writes = [
    realizationsInsert(fresh),
    runTotalsUpdate(changed.filter((s) => s.runTotalsChanged).map((s) => ({ run: s.run, totals: s.totals, now: new Date(s.clock) }))),
    chargeStatusUpdate(changed.filter((s) => s.becameFinal).map((s) => ({ charge: s.charge, status: 'final' as const, now: new Date(s.clock) }))),
  ];
  return { applied, writes };
}
