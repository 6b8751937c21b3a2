import type * as yup from 'yup';
import { Charge } from '../domain/charge';
import type { TableChanges } from '../domain/journal';
import { Run } from '../domain/run';
import type { TotalsJson } from '../domain/totals';
import type { Scoped } from '../db/batch-charges';
import { LockedCharge, requireLive, requirePointedRun, requireRun } from '../db/charge-guard';
import { SqlPart } from '../db/batch-sql';
import type { Row } from '../db/batch-transaction';
import { validate } from '../validation';
import { JobResult } from './job-context';

// What every set-based job kind shares: the contract batch-apply.ts runs, the way off the success
// path, and the charge checks of the per-job path, made in memory on the batch's locked rows.

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
  /**
   * Decides every fresh job, in order, from the reads' rows (`keys`: each fresh job's idempotency
   * key, as the per-job handler's context has it); the effects' writes for the single write statement.
   */
  decide(rows: Row[][], fresh: P[], keys: string[]): { applied: FreshApplied[]; writes: Array<SqlPart | null> };
}

/** A fresh job's result and what its journal entry records: the same facts the per-job path reads back. */
export interface FreshApplied {
  result: JobResult;
  /** The charge's current run after the job; null (with null totals) while it has none. */
  runId: string | null;
  changes: TableChanges;
  totalsBefore: TotalsJson | null;
  totalsAfter: TotalsJson | null;
}

/** yup validation as the per-job path does it; an invalid payload sends the batch to savepoints. */
export function parseOrFallBack<S extends yup.AnyObjectSchema>(schema: S, data: unknown): yup.InferType<S> {
  try {
    return validate(schema, data);
  } catch (err) {
    throw new BatchFallback('a payload is invalid', { cause: err });
  }
}

/** A pure domain rule run in memory; a rule it breaks sends the batch to savepoints for the exact error. */
export function ruleOrFallBack<T>(chargeId: string, rule: () => T): T {
  try {
    return rule();
  } catch (err) {
    throw new BatchFallback(`a job on charge ${chargeId} broke a rule`, { cause: err });
  }
}

/** Each charge once, in first-seen order. */
export function uniqueCharges(payloads: Array<{ namespace: string; chargeId: string }>): Scoped[] {
  const seen = new Map<string, Scoped>();
  for (const p of payloads) seen.set(`${p.namespace}\u0000${p.chargeId}`, { namespace: p.namespace, id: p.chargeId });
  return [...seen.values()];
}

/**
 * The charge and its current run (if any) as lockChargeForJob would hand them to a handler, with
 * its own checks; anything it would refuse (missing, deleted, not migrated, a pointer to no run or
 * another charge's) falls back.
 */
export function chargeForJob(locked: Map<string, LockedCharge>, namespace: string, chargeId: string): LockedCharge {
  const found = locked.get(chargeId);
  if (!found || found.charge.namespace !== namespace) throw new BatchFallback(`charge ${chargeId} not found`);
  return ruleOrFallBack(chargeId, () => {
    requireLive(found.charge);
    return { charge: found.charge, run: requirePointedRun(found.charge, found.run) };
  });
}

/** As chargeForJob, and the job cannot go on without a current run (lockChargeWithRun). */
export function chargeWithRun(locked: Map<string, LockedCharge>, namespace: string, chargeId: string): { charge: Charge; run: Run } {
  const { charge, run } = chargeForJob(locked, namespace, chargeId);
  return { charge, run: ruleOrFallBack(chargeId, () => requireRun(charge, run)) };
}

/**
 * One in-memory state per charge of the fresh jobs, built from its locked row and current run once
 * `check` (chargeWithRun, or chargeForJob when the run may be missing) let it through.
 */
export function chargeStates<S, F extends LockedCharge>(
  fresh: Array<{ namespace: string; chargeId: string }>,
  locked: Map<string, LockedCharge>,
  check: (locked: Map<string, LockedCharge>, namespace: string, chargeId: string) => F,
  init: (found: F) => S,
): Map<string, S> {
  const states = new Map<string, S>();
  for (const k of uniqueCharges(fresh)) states.set(k.id, init(check(locked, k.namespace, k.id)));
  return states;
}
