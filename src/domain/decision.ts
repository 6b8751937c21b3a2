import type * as yup from 'yup';
import { Charge } from './charge';
import { isDomainError, NotFoundError } from './errors';
import type { RunChange, TableChanges } from './journal';
import { Run } from './run';
import type { TotalsJson } from './totals';
import type { Scoped } from '../db/batch-charges';
import { LockedCharge, requireLive, requirePointedRun, requireRun } from './charge-checks';
import type { SqlPart } from '../db/batch-sql';
import type { Row } from '../db/batch-transaction';

// What every job kind shares: the contract the engine (src/engine/batch-apply.ts) runs, and the
// charge checks every job makes, in memory on the batch's locked rows. Pure: no SQL is run here.

/**
 * Thrown by a kind when the batch's jobs cannot be written together by its set-based statements
 * (two jobs that must hit the database in an order one statement does not promise): the engine
 * then applies the batch's jobs one by one, each as a batch of its own.
 */
export class BatchFallback extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`batch applied one job at a time: ${reason}`, options);
    this.name = 'BatchFallback';
  }
}

/** What a job returns: a small JSON object (ids it touched, `replayed: true` on a replay). */
export type JobResult = Record<string, unknown>;

/** Thrown by a decision to ask for the job to wait until `until` (activate-charge before invoiceAt). */
export class DelayJob extends Error {
  constructor(readonly until: Date) {
    super(`delayed until ${until.toISOString()}`);
    this.name = 'DelayJob';
  }
}

/** One job's decision: what it did, or the error it alone fails (or waits) with. */
export type Decided = { ok: true; applied: FreshApplied } | { ok: false; error: unknown };

/** A job kind as the engine runs it. */
export interface JobKind<P> {
  name: string;
  schema: yup.AnyObjectSchema;
  /** Statements reading what the jobs need: sent with the key claim, after it, in one round trip. */
  reads(payloads: P[]): SqlPart[];
  /**
   * Decides every fresh job, in arrival order, from the reads' rows (`keys`: each fresh job's
   * idempotency key; `resumed`: whether it comes back from a delay it asked for), and the writes of
   * the jobs that were applied, for the batch's single write statement.
   */
  decide(rows: Row[][], fresh: P[], facts: FreshFacts): { decided: Decided[]; writes: Array<SqlPart | null> };
}

/** What a decision may know about each fresh job's delivery, besides its payload. */
export interface FreshFacts {
  keys: string[];
  resumed: boolean[];
}

/** A fresh job's result and what its journal entry records. */
export interface FreshApplied {
  result: JobResult;
  /** The charge's current run after the job; null (with null totals) while it has none. */
  runId: string | null;
  changes: TableChanges;
  totalsBefore: TotalsJson | null;
  totalsAfter: TotalsJson | null;
  runChange?: RunChange;
}

/**
 * Decides each job on its own, in order: a job that breaks a rule (a DomainError) or asks to wait
 * (DelayJob) fails alone and leaves its charge's state as the jobs before it left it, because every
 * rule throws before the state is touched. Anything else is a bug and fails the batch.
 */
export function decideEach<P>(fresh: P[], one: (p: P, i: number) => FreshApplied): Decided[] {
  return fresh.map((p, i): Decided => {
    try {
      return { ok: true, applied: one(p, i) };
    } catch (error) {
      if (isDomainError(error) || error instanceof DelayJob) return { ok: false, error };
      throw error;
    }
  });
}

/** Each charge once, in first-seen order. */
export function uniqueCharges(payloads: Array<{ namespace: string; chargeId: string }>): Scoped[] {
  const seen = new Map<string, Scoped>();
  for (const p of payloads) seen.set(`${p.namespace}\u0000${p.chargeId}`, { namespace: p.namespace, id: p.chargeId });
  return [...seen.values()];
}

/**
 * The charge and its current run (if any), with the checks every job makes in SPEC §3's order:
 * exists → not deleted → migrated; a pointer to no run (or another charge's) is corrupt data.
 */
export function chargeForJob(locked: Map<string, LockedCharge>, namespace: string, chargeId: string): LockedCharge {
  const found = locked.get(chargeId);
  if (!found || found.charge.namespace !== namespace) throw new NotFoundError('charge_not_found', `charge not found [namespace=${namespace} charge_id=${chargeId}]`);
  requireLive(found.charge);
  return { charge: found.charge, run: requirePointedRun(found.charge, found.run) };
}

/** As chargeForJob, and the job cannot go on without a current run (retried until one exists). */
export function chargeWithRun(locked: Map<string, LockedCharge>, namespace: string, chargeId: string): { charge: Charge; run: Run } {
  const { charge, run } = chargeForJob(locked, namespace, chargeId);
  return { charge, run: requireRun(charge, run) };
}

/**
 * One in-memory state per charge, built from its locked row and current run the first time a job
 * of the batch reaches it and `check` lets it through; a check that fails fails that job alone.
 */
export class ChargeStates<S, F extends LockedCharge = LockedCharge> {
  private readonly states = new Map<string, S>();

  constructor(
    private readonly locked: Map<string, LockedCharge>,
    private readonly check: (locked: Map<string, LockedCharge>, namespace: string, chargeId: string) => F,
    private readonly init: (found: F) => S,
  ) {}

  of(p: { namespace: string; chargeId: string }): S {
    const key = `${p.namespace}\u0000${p.chargeId}`;
    let state = this.states.get(key);
    if (state === undefined) {
      state = this.init(this.check(this.locked, p.namespace, p.chargeId));
      this.states.set(key, state);
    }
    return state;
  }

  values(): S[] {
    return [...this.states.values()];
  }
}
