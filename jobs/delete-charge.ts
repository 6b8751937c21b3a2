import * as yup from 'yup';
import { creditOnlyTotals } from '../src/domain/totals';
import { Money } from '../src/domain/money';
import { realizedSum, reverseAllocations } from '../src/domain/credit';
import { parseInstant } from '../src/domain/time';
import { updateChargeStatus } from '../src/db/charges';
import { loadCurrentRun, lockExistingCharge, requireMigrated } from '../src/db/charge-guard';
import { insertRealizations, listRealizationsOfRuns } from '../src/db/credit-realizations';
import { findStoredResult } from '../src/db/idempotency';
import { updateRunTotals } from '../src/db/runs';
import { JobContext } from '../src/queues/job-context';
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

/**
 * Soft-deletes a charge. With the `correct` policy every live allocation of the current run is taken
 * back by one batch of corrections, newest first, so the run realizes 0; runs stay as history. A
 * charge that never got a run (a future credit_only charge) has nothing to correct.
 */
export async function handle(p: Payload, ctx: JobContext) {
  const charge = await lockExistingCharge(ctx.trx, p.namespace, p.chargeId);
  if (charge.status === 'deleted') {
    // Deleting again is a no-op that answers with what the first deletion did.
    const original = await findStoredResult(ctx.trx, { queue: name, namespace: p.namespace }, 'chargeId', charge.id);
    return { ...(original ?? { chargeId: charge.id, status: 'deleted', deletedAt: charge.deletedAt?.toISOString() ?? null }), alreadyDeleted: true };
  }
  requireMigrated(charge);
  const run = await loadCurrentRun(ctx.trx, charge);
  const refundPolicy = p.refundPolicy ?? 'correct';
  const deletedAt = p.at ? parseInstant(p.at) : ctx.now;

  let correctionIds: string[] = [];
  if (run && refundPolicy === 'correct') {
    const existing = await listRealizationsOfRuns(ctx.trx, p.namespace, [run.id]);
    const corrections = reverseAllocations(run, existing, p.transactionGroupId ?? ctx.idempotencyKey, ctx.newId, ctx.now);
    await insertRealizations(ctx.trx, corrections);
    if (charge.settlementMode === 'credit_only' && corrections.length > 0) {
      const net = Money.max(0, realizedSum([...existing, ...corrections]));
      await updateRunTotals(ctx.trx, run, creditOnlyTotals(net), ctx.now);
    }
    correctionIds = corrections.map((c) => c.id);
  }
  await updateChargeStatus(ctx.trx, charge, 'deleted', ctx.now, deletedAt);
  return { chargeId: charge.id, status: 'deleted', deletedAt: deletedAt.toISOString(), refundPolicy, runId: run?.id ?? null, correctionIds };
}
