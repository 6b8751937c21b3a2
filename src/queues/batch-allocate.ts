import type { Knex } from 'knex';
import { ulid } from 'ulid';
import * as allocateJob from '../../jobs/allocate-credit';
import { Charge } from '../domain/charge';
import { allocateCredit, CreditRealization } from '../domain/credit';
import { Run } from '../domain/run';
import { Totals } from '../domain/totals';
import {
  insertRealizationsMany,
  loadRealizations,
  loadRuns,
  lockCharges,
  Scoped,
  updateChargeStatusMany,
  updateRunTotalsMany,
} from '../db/batch-allocate';
import { KeyRef } from '../db/idempotency';
import { validate } from '../validation';
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

/** What one charge looks like while the batch's jobs are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  run: Run;
  realizations: CreditRealization[];
  /** The last row time used on this charge: each job gets a later one, so created_at orders jobs. */
  clock: number;
  runTotals: Totals | null;
  becameFinal: boolean;
}

function guard(charge: Charge | undefined, namespace: string, chargeId: string): Charge & { currentRealizationRunId: string } {
  if (!charge || charge.namespace !== namespace) throw new BatchFallback(`charge ${chargeId} not found`);
  if (charge.status === 'deleted' || charge.deletedAt !== null) throw new BatchFallback(`charge ${chargeId} is deleted`);
  if (!charge.migrated) throw new BatchFallback(`charge ${chargeId} is not migrated`);
  if (charge.currentRealizationRunId === null) throw new BatchFallback(`charge ${chargeId} has no current run`);
  return charge as Charge & { currentRealizationRunId: string };
}

/** Locks the batch's charges and loads their current runs and realizations: three statements. */
async function loadStates(trx: Knex.Transaction, payloads: allocateJob.Payload[]): Promise<Map<string, ChargeState>> {
  const chargeKeys = uniqueScoped(payloads.map((p) => ({ namespace: p.namespace, id: p.chargeId })));
  const charges = await lockCharges(trx, chargeKeys);
  const guarded = chargeKeys.map((k) => guard(charges.get(k.id), k.namespace, k.id));
  const runKeys = guarded.map((c) => ({ namespace: c.namespace, id: c.currentRealizationRunId }));
  const runs = await loadRuns(trx, runKeys);
  const realizations = await loadRealizations(trx, runKeys);
  const states = new Map<string, ChargeState>();
  for (const charge of guarded) {
    const run = runs.get(charge.currentRealizationRunId);
    if (!run || run.chargeId !== charge.id) throw new BatchFallback(`current run of ${charge.id} not loaded`);
    const existing = realizations.get(run.id) ?? [];
    const clock = existing.reduce((latest, r) => Math.max(latest, r.createdAt.getTime()), 0);
    states.set(charge.id, { charge, run, realizations: existing, clock, runTotals: null, becameFinal: false });
  }
  return states;
}

function uniqueScoped(keys: Scoped[]): Scoped[] {
  const seen = new Map<string, Scoped>();
  for (const k of keys) seen.set(`${k.namespace}\u0000${k.id}`, k);
  return [...seen.values()];
}

/** One job applied to its charge's in-memory state with the same pure rule the per-job handler uses. */
function applyToState(state: ChargeState, p: allocateJob.Payload, fresh: CreditRealization[]): JobResult {
  const now = new Date(Math.max(Date.now(), state.clock + 1));
  state.clock = now.getTime();
  const charge = state.becameFinal ? { ...state.charge, status: 'final' as const } : state.charge;
  let outcome;
  try {
    outcome = allocateCredit({ charge, run: state.run, existing: state.realizations, batch: p.realizations.map(allocateJob.toInput), newId: ulid, now });
  } catch (err) {
    throw new BatchFallback(`a job on charge ${p.chargeId} broke a rule`, { cause: err });
  }
  state.realizations.push(...outcome.realizations);
  fresh.push(...outcome.realizations);
  if (outcome.runTotals) state.runTotals = outcome.runTotals;
  if (outcome.chargeBecomesFinal) state.becameFinal = true;
  return {
    chargeId: charge.id,
    runId: state.run.id,
    realizationIds: outcome.realizations.map((r) => r.id),
    status: outcome.chargeBecomesFinal ? 'final' : charge.status,
  };
}

/**
 * Applies many allocate-credit jobs (keys already claimed) with set-based statements: lock all
 * charges, load runs and realizations, decide every job in memory in arrival order, then write all
 * realizations, run totals and charge statuses with one statement each.
 */
export async function applyAllocations(trx: Knex.Transaction, jobs: FreshJob[]): Promise<JobResult[]> {
  const payloads = jobs.map((j) => {
    try {
      return validate(allocateJob.schema, j.data);
    } catch (err) {
      throw new BatchFallback('a payload is invalid', { cause: err });
    }
  });
  const states = await loadStates(trx, payloads);
  const fresh: CreditRealization[] = [];
  const results = payloads.map((p) => applyToState(states.get(p.chargeId)!, p, fresh));
  const changed = [...states.values()];
  await insertRealizationsMany(trx, fresh);
  await updateRunTotalsMany(
    trx,
    changed.filter((s) => s.runTotals).map((s) => ({ run: s.run, totals: s.runTotals!, now: new Date(s.clock) })),
  );
  await updateChargeStatusMany(
    trx,
    changed.filter((s) => s.becameFinal).map((s) => ({ charge: s.charge, status: 'final' as const, now: new Date(s.clock) })),
  );
  return results;
}
