import * as yup from 'yup';
import { transition } from '../src/domain/charge';
import { parseInstant } from '../src/domain/time';
import { updateChargeStatus } from '../src/db/charges';
import { lockChargeForJob } from '../src/db/charge-guard';
import { ensureCurrentRun } from '../src/db/provision';
import { DelayJob, JobContext } from '../src/queues/job-context';
import { idempotencyKey, instant, strictObject, text, ulid } from '../src/validation';

export const name = 'activate-charge';

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/**
 * credit_only charges go live at invoiceAt: an early activation waits (the job is delayed until
 * invoiceAt, not failed) and then activates as of invoiceAt. Invoice modes only get their run
 * provisioned if it is missing. An existing current run is returned unchanged.
 */
export async function handle(p: Payload, ctx: JobContext) {
  const { charge, run } = await lockChargeForJob(ctx.trx, p.namespace, p.chargeId);
  let activatedAt: Date | null = null;
  if (charge.settlementMode === 'credit_only' && charge.status === 'created') {
    const at = p.at ? parseInstant(p.at) : ctx.now;
    if (at < charge.invoiceAt && !ctx.resumedAfterDelay) throw new DelayJob(charge.invoiceAt);
    activatedAt = at < charge.invoiceAt ? charge.invoiceAt : at;
    charge.status = transition(charge, 'active');
    await updateChargeStatus(ctx.trx, charge, charge.status, ctx.now);
  }
  const { run: current, provisioned } = await ensureCurrentRun(ctx.trx, charge, run, ctx.newId, ctx.now);
  return {
    chargeId: charge.id,
    status: charge.status,
    currentRunId: current.id,
    provisioned,
    activatedAt: activatedAt?.toISOString() ?? null,
  };
}
