import * as yup from 'yup';
import { Charge, transition } from '../src/domain/charge';
import { Run } from '../src/domain/run';
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
 * When a credit_only charge still `created` goes live: at `at` (or now), or at invoiceAt for a job
 * resuming from its delay; 'wait' for a job that came too early (it is delayed until invoiceAt).
 * null for every other charge: nothing to activate.
 */
export function activationOf(charge: Charge, p: Payload, now: Date, resumedAfterDelay: boolean): Date | 'wait' | null {
  if (charge.settlementMode !== 'credit_only' || charge.status !== 'created') return null;
  const at = p.at ? parseInstant(p.at) : now;
  if (at >= charge.invoiceAt) return at;
  return resumedAfterDelay ? charge.invoiceAt : 'wait';
}

export function resultOf(charge: Charge, run: Run, provisioned: boolean, activatedAt: Date | null) {
  return { chargeId: charge.id, status: charge.status, currentRunId: run.id, provisioned, activatedAt: activatedAt?.toISOString() ?? null };
}

/**
 * credit_only charges go live at invoiceAt: an early activation waits (the job is delayed until
 * invoiceAt, not failed) and then activates as of invoiceAt. Invoice modes only get their run
 * provisioned if it is missing. An existing current run is returned unchanged.
 */
export async function handle(p: Payload, ctx: JobContext) {
  const { charge, run } = await lockChargeForJob(ctx.trx, p.namespace, p.chargeId);
  const activatedAt = activationOf(charge, p, ctx.now, ctx.resumedAfterDelay);
  if (activatedAt === 'wait') throw new DelayJob(charge.invoiceAt);
  if (activatedAt) {
    charge.status = transition(charge, 'active');
    await updateChargeStatus(ctx.trx, charge, charge.status, ctx.now);
  }
  const { run: current, provisioned } = await ensureCurrentRun(ctx.trx, charge, run, ctx.newId, ctx.now);
  return resultOf(charge, current, provisioned, activatedAt);
}
