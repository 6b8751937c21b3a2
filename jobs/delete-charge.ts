import * as yup from 'yup';
import { Charge } from '../src/domain/charge';
import { creditOnlyTotals, Totals } from '../src/domain/totals';
import { Money } from '../src/domain/money';
import { CreditRealization, realizedSum, reverseAllocations } from '../src/domain/credit';
import { Run } from '../src/domain/run';
import { parseInstant } from '../src/domain/time';
import { updateChargeStatus } from '../src/db/charges';
import { loadCurrentRun, lockExistingCharge, requireMigrated } from '../src/db/charge-guard';
import { insertRealizations, listRealizationsOfRuns } from '../src/db/credit-realizations';
import { findStoredResult } from '../src/db/idempotency';
import { updateRunTotals } from '../src/db/runs';
import { JobContext, JobResult } from '../src/queues/job-context';
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
 * charge) has nothing to correct. Pure: the per-job handler and the batch both write what it returns.
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

/** Soft-deletes a charge (deletionOf); deleting it again answers with what the first deletion did. */
export async function handle(p: Payload, ctx: JobContext) {
  const charge = await lockExistingCharge(ctx.trx, p.namespace, p.chargeId);
  if (charge.status === 'deleted') {
    const original = await findStoredResult(ctx.trx, { queue: name, namespace: p.namespace }, 'chargeId', charge.id);
    return { ...(original ?? { chargeId: charge.id, status: 'deleted', deletedAt: charge.deletedAt?.toISOString() ?? null }), alreadyDeleted: true };
  }
  requireMigrated(charge);
  const run = await loadCurrentRun(ctx.trx, charge);
  const existing = run && refundPolicyOf(p) === 'correct' ? await listRealizationsOfRuns(ctx.trx, p.namespace, [run.id]) : [];
  const deletion = deletionOf(p, charge, run, existing, ctx);
  await insertRealizations(ctx.trx, deletion.corrections);
  if (run && deletion.runTotals) await updateRunTotals(ctx.trx, run, deletion.runTotals, ctx.now);
  await updateChargeStatus(ctx.trx, charge, 'deleted', ctx.now, deletion.deletedAt);
  return deletion.result;
}
