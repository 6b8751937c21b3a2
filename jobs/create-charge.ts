import * as yup from 'yup';
import { Charge, initialStatus, PAYMENT_TERMS, PRO_RATING_MODES, SETTLEMENT_MODES } from '../src/domain/charge';
import { money } from '../src/domain/money';
import { prorate, Proration, storedProRating } from '../src/domain/proration';
import { parseInstant } from '../src/domain/time';
import { insertCharge } from '../src/db/charges';
import { ensureCurrentRun } from '../src/db/provision';
import { insertReceipt } from '../src/db/receipts';
import { JobContext } from '../src/queues/job-context';
import { currency, idempotencyKey, instant, jsonObject, nonNegativeAmount, period, strictObject, text, ulid } from '../src/validation';

export const name = 'create-charge';

export const schema = strictObject({
  namespace: text().required(),
  id: ulid().optional(),
  customerId: text().required(),
  currency: currency().required(),
  name: text().required(),
  description: yup.string().max(10000).optional(),
  uniqueReferenceId: text().optional(),
  featureKey: text().optional(),
  metadata: jsonObject().optional(),
  settlementMode: yup.string().oneOf(SETTLEMENT_MODES).required(),
  paymentTerm: yup.string().oneOf(PAYMENT_TERMS).required(),
  invoiceAt: instant().required(),
  advanceAfter: instant().optional(),
  servicePeriod: period().required(),
  fullServicePeriod: period().required(),
  billingPeriod: period().required(),
  proRating: strictObject({
    enabled: yup.boolean().required(),
    mode: yup.string().oneOf(PRO_RATING_MODES).required(),
  }).required(),
  amountBeforeProration: nonNegativeAmount().required(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

function periodOf(p: { from: string; to: string }) {
  return { from: parseInstant(p.from), to: parseInstant(p.to) };
}

/** One proration per payload: the charge's amount and the receipt stored with it both come from it. */
export function prorationOf(p: Payload): Proration {
  return prorate({
    currency: p.currency,
    amountBeforeProration: money(p.amountBeforeProration),
    servicePeriod: periodOf(p.servicePeriod),
    fullServicePeriod: periodOf(p.fullServicePeriod),
    proRating: p.proRating,
  });
}

/** Builds the charge row from the payload: proration applied, status from the settlement mode. */
export function chargeFromPayload(p: Payload, ctx: Pick<JobContext, 'newId' | 'now'>, proration = prorationOf(p)): Charge {
  const servicePeriod = periodOf(p.servicePeriod);
  const fullServicePeriod = periodOf(p.fullServicePeriod);
  const amountBeforeProration = money(p.amountBeforeProration);
  const { amountAfterProration } = proration;
  const status = initialStatus(p.settlementMode);
  return {
    id: p.id ?? ctx.newId(),
    namespace: p.namespace,
    customerId: p.customerId,
    currency: p.currency,
    name: p.name,
    description: p.description ?? null,
    uniqueReferenceId: p.uniqueReferenceId ?? null,
    featureKey: p.featureKey ?? null,
    metadata: p.metadata ?? null,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    deletedAt: null,
    status,
    statusDetailed: status,
    settlementMode: p.settlementMode,
    paymentTerm: p.paymentTerm,
    invoiceAt: parseInstant(p.invoiceAt),
    advanceAfter: p.advanceAfter ? parseInstant(p.advanceAfter) : null,
    servicePeriod,
    fullServicePeriod,
    billingPeriod: periodOf(p.billingPeriod),
    proRating: storedProRating(p.proRating),
    amountBeforeProration,
    amountAfterProration,
    currentRealizationRunId: null,
    migrated: true,
  };
}

export function resultOf(charge: Charge, runId: string | null) {
  return { chargeId: charge.id, status: charge.status, amountAfterProration: charge.amountAfterProration.toFixed(), currentRunId: runId };
}

export async function handle(p: Payload, ctx: JobContext) {
  const proration = prorationOf(p);
  const charge = chargeFromPayload(p, ctx, proration);
  await insertCharge(ctx.trx, charge);
  await insertReceipt(ctx.trx, { ...proration.receipt, chargeId: charge.id, namespace: charge.namespace, createdAt: ctx.now });
  let runId: string | null = null;
  if (charge.status === 'active') {
    ({
      run: { id: runId },
    } = await ensureCurrentRun(ctx.trx, charge, null, ctx.newId, ctx.now));
  }
  return resultOf(charge, runId);
}
