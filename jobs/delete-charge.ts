import * as yup from 'yup';
import { Charge } from '../src/domain/charge';
import { creditOnlyTotals, Totals } from '../src/domain/totals';
import { Money } from '../src/domain/money';
import { CreditRealization, realizedSum, reverseAllocations } from '../src/domain/credit';
import { Run } from '../src/domain/run';
import { parseInstant } from '../src/domain/time';
import { NotFoundError } from '../src/domain/errors';
import type { TableChanges } from '../src/domain/journal';
import { totalsToJson } from '../src/domain/totals';
import { realizationsInsert, realizationsOf, realizationsOfCurrentRuns, runTotalsUpdate } from '../src/db/batch-allocate';
import { chargeDeletionUpdate, lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { firstResultsOfDeleted, resultsByCharge } from '../src/db/batch-idempotency';
import { LockedCharge, requireMigrated, requirePointedRun } from '../src/domain/charge-checks';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { ChargeStates, decideEach, FreshApplied, JobKind, JobResult, uniqueCharges } from '../src/domain/decision';
import { idempotencyKey, instant, strictObject, text, ulid } from '../src/validation';

export const name = 'delete-charge';

export const REFUND_POLICIES = ['correct', 'none'] as const;

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  refundPolicy: yup.string().oneOf(REFUND_POLICIES).optional(),
  transactionGroupId: text().optional(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** The refund policy a deletion applies: the payload's, `correct` by default. */
export function refundPolicyOf(p: Payload): (typeof REFUND_POLICIES)[number] {
  return p.refundPolicy ?? 'correct';
}

/** What a deletion writes: corrections, the run's new totals (credit_only), the charge's deletion time. */
export interface Deletion {
  corrections: CreditRealization[];
  /** The run's totals after the corrections; null when they stay as they were. */
  runTotals: Totals | null;
  deletedAt: Date;
  result: JobResult;
}

/**
 * A deletion decided from the locked charge, its current run and that run's realizations: with the
 * `correct` policy every live allocation is taken back by one batch of corrections, newest first,
 * so the run realizes 0; runs stay as history. A charge that never got a run (a future credit_only
 * charge) has nothing to correct. Pure.
 */
export function deletionOf(p: Payload, charge: Charge, run: Run | null, existing: CreditRealization[], clock: { idempotencyKey: string; newId: () => string; now: Date }): Deletion {
  const refundPolicy = refundPolicyOf(p);
  const deletedAt = p.at ? parseInstant(p.at) : clock.now;
  let corrections: CreditRealization[] = [];
  let runTotals: Totals | null = null;
  if (run && refundPolicy === 'correct') {
    // A correction sorts after what it takes back, even an allocation a batch wrote a moment ahead of this clock.
    const correctedAt = new Date(existing.reduce((latest, r) => Math.max(latest, r.createdAt.getTime() + 1), clock.now.getTime()));
    corrections = reverseAllocations(run, existing, p.transactionGroupId ?? clock.idempotencyKey, clock.newId, correctedAt);
    if (charge.settlementMode === 'credit_only' && corrections.length > 0) runTotals = creditOnlyTotals(Money.max(0, realizedSum([...existing, ...corrections])));
  }
  const result = { chargeId: charge.id, status: 'deleted', deletedAt: deletedAt.toISOString(), refundPolicy, runId: run?.id ?? null, correctionIds: corrections.map((c) => c.id) };
  return { corrections, runTotals, deletedAt, result };
}

interface DeletionState {
  charge: Charge;
  run: Run | null;
  realizations: CreditRealization[];
  /** The result of the job that deleted the charge, before this batch or in it. */
  deletedBy: JobResult | null;
}

/** The charge as a deletion sees it: it must exist; a deleted one is answered, not refused; then it must be migrated. */
function chargeToDelete(locked: Map<string, LockedCharge>, namespace: string, chargeId: string): LockedCharge {
  const found = locked.get(chargeId);
  if (!found || found.charge.namespace !== namespace) throw new NotFoundError('charge_not_found', `charge not found [namespace=${namespace} charge_id=${chargeId}]`);
  if (found.charge.status === 'deleted') return found;
  requireMigrated(found.charge);
  return { charge: found.charge, run: requirePointedRun(found.charge, found.run) };
}

/** Locks every charge with its run; reads the runs' realizations and the first result of any deletion already done. */
export function reads(payloads: Payload[]) {
  const charges = uniqueCharges(payloads);
  return [...lockChargesWithRuns(charges), realizationsOfCurrentRuns(charges), firstResultsOfDeleted(name, charges)];
}

/** Decides each deletion in arrival order; deleting again answers with what the first deletion did. */
export const decide: JobKind<Payload>['decide'] = ([locked, runRows, realizationRows, deletedRows], fresh, { keys }) => {
  const realizations = realizationsOf(realizationRows);
  const deletedBy = resultsByCharge(deletedRows);
  const states = new ChargeStates(lockedOf(locked, runRows), chargeToDelete, ({ charge, run }): DeletionState => ({
    charge, run, realizations: run ? realizations.get(run.id) ?? [] : [], deletedBy: charge.status === 'deleted' ? deletedBy.get(charge.id) ?? null : null,
  }));
  const corrections: CreditRealization[] = [];
  const runTotals: Parameters<typeof runTotalsUpdate>[0] = [];
  const deletions: Parameters<typeof chargeDeletionUpdate>[0] = [];
  const decided = decideEach(fresh, (p, i): FreshApplied => {
    const state = states.of(p);
    const { charge, run } = state;
    if (charge.status === 'deleted' || state.deletedBy) {
      const original = state.deletedBy ?? { chargeId: charge.id, status: 'deleted', deletedAt: charge.deletedAt?.toISOString() ?? null };
      return { result: { ...original, alreadyDeleted: true }, runId: run?.id ?? null, changes: {}, totalsBefore: null, totalsAfter: null };
    }
    const now = new Date();
    const deletion = deletionOf(p, charge, run, state.realizations, { idempotencyKey: keys[i], newId: () => fastUlid(now.getTime()), now });
    state.deletedBy = deletion.result;
    corrections.push(...deletion.corrections);
    if (run && deletion.runTotals) runTotals.push({ run, totals: deletion.runTotals, now });
    deletions.push({ charge, now, deletedAt: deletion.deletedAt });
    const changes: TableChanges = { [T.charges]: { updated: 1 } };
    if (deletion.corrections.length > 0) changes[T.realizations] = { inserted: deletion.corrections.length };
    if (deletion.runTotals) changes[T.runs] = { updated: 1 };
    const totalsBefore = run ? totalsToJson(run.totals) : null;
    const totalsAfter = run ? totalsToJson(deletion.runTotals ?? run.totals) : null;
    return { result: deletion.result, runId: run?.id ?? null, changes, totalsBefore, totalsAfter };
  });
  return { decided, writes: [realizationsInsert(corrections), runTotalsUpdate(runTotals), chargeDeletionUpdate(deletions)] };
};
