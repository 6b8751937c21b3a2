import * as yup from 'yup';
import { AuthorizeOutcome, authorizePayment, PaymentEvent, SettleOutcome, settlePayment } from '../src/domain/payment';
import { parseInstant } from '../src/domain/time';
import { updateChargeStatus } from '../src/db/charges';
import { lockChargeWithRun } from '../src/db/charge-guard';
import { findUsageOfRun } from '../src/db/invoiced-usages';
import { findPaymentOfRun, insertPayment, markPaymentSettled } from '../src/db/payments';
import { JobContext } from '../src/queues/job-context';
import { idempotencyKey, instant, strictObject, text, ulid } from '../src/validation';

export const name = 'payment';

export const PAYMENT_ACTIONS = ['authorize', 'settle'] as const;

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  action: yup.string().oneOf(PAYMENT_ACTIONS).required(),
  lineId: ulid().required(),
  invoiceId: ulid().required(),
  transactionGroupId: text().required(),
  at: instant().optional(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** The payment event a job describes: its line, invoice and transaction group, at `at` or now. */
export function eventOf(p: Payload, now: Date): PaymentEvent {
  return { lineId: p.lineId, invoiceId: p.invoiceId, transactionGroupId: p.transactionGroupId, at: p.at ? parseInstant(p.at) : now };
}

type Base = { chargeId: string; runId: string; action: Payload['action'] };

export function authorizeResult(base: Base, outcome: AuthorizeOutcome) {
  return outcome.kind === 'skipped'
    ? { ...base, skipped: true, paymentId: null, status: null }
    : { ...base, skipped: false, paymentId: outcome.payment.id, status: 'authorized', amount: outcome.payment.amount.toFixed() };
}

/** A settlement always leaves the charge final, whether or not there was a payment to settle. */
export function settleResult(base: Base, outcome: SettleOutcome) {
  return outcome.kind === 'skipped'
    ? { ...base, skipped: true, paymentId: null, status: null, chargeStatus: 'final' }
    : { ...base, skipped: false, paymentId: outcome.payment.id, status: 'settled', chargeStatus: 'final' };
}

/** Authorize records the payment of the invoiced total; settle closes it and finalizes the charge. */
export async function handle(p: Payload, ctx: JobContext) {
  const { charge, run } = await lockChargeWithRun(ctx.trx, p.namespace, p.chargeId);
  const usage = await findUsageOfRun(ctx.trx, p.namespace, run.id);
  const existing = await findPaymentOfRun(ctx.trx, p.namespace, run.id);
  const event = eventOf(p, ctx.now);
  const base = { chargeId: charge.id, runId: run.id, action: p.action };

  if (p.action === 'authorize') {
    const outcome = authorizePayment(run, usage, existing, event, ctx.newId());
    if (outcome.kind === 'authorized') await insertPayment(ctx.trx, outcome.payment);
    return authorizeResult(base, outcome);
  }

  const outcome = settlePayment(run, usage, existing, event);
  if (outcome.kind === 'settled') await markPaymentSettled(ctx.trx, outcome.payment);
  if (charge.status !== 'final') await updateChargeStatus(ctx.trx, charge, 'final', ctx.now);
  return settleResult(base, outcome);
}
