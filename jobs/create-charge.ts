import * as yup from 'yup';
import { Charge, initialStatus, PAYMENT_TERMS, PRO_RATING_MODES, SETTLEMENT_MODES } from '../src/domain/charge';
import { money } from '../src/domain/money';
import { prorate, Proration, storedProRating } from '../src/domain/proration';
import { parseInstant } from '../src/domain/time';
import type { TableChanges } from '../src/domain/journal';
import { provisionRun, Run } from '../src/domain/run';
import { totalsToJson } from '../src/domain/totals';
import { chargesInsert, receiptsInsert, runsInsert } from '../src/db/batch-provision';
import { StoredReceipt } from '../src/db/receipts';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { BatchFallback, decideEach, FreshApplied, JobKind } from '../src/domain/decision';
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
export function chargeFromPayload(p: Payload, ctx: { newId: () => string; now: Date }, proration = prorationOf(p)): Charge {
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

/** Nothing to read but the key claim. */
export function reads(): [] {
  return [];
}

/**
 * Builds each charge in memory (proration, receipt, and the run of a charge that is live from
 * creation). A charge id taken twice in one batch has its jobs applied one at a time, where the
 * second one's insert meets the first and fails with charge_already_exists.
 */
export const decide: JobKind<Payload>['decide'] = (_rows, fresh) => {
  const charges: Charge[] = [];
  const runs: Run[] = [];
  const receipts: StoredReceipt[] = [];
  const seen = new Set<string>();
  const decided = decideEach(fresh, (p): FreshApplied => {
    const now = new Date();
    const proration = prorationOf(p);
    const charge = chargeFromPayload(p, { now, newId: () => fastUlid() }, proration);
    if (seen.has(charge.id)) throw new BatchFallback(`charge ${charge.id} is created twice in one batch`);
    seen.add(charge.id);
    const run = charge.status === 'active' ? provisionRun(charge, fastUlid(), now) : null;
    charges.push(Object.assign({}, charge, { currentRealizationRunId: run?.id ?? null }));
    if (run) runs.push(run);
    receipts.push(Object.assign({}, proration.receipt, { id: charge.id, chargeId: charge.id, runId: run?.id ?? null, namespace: charge.namespace, createdAt: now }));
    const changes: TableChanges = { [T.charges]: run ? { inserted: 1, updated: 1 } : { inserted: 1 }, [T.receipts]: { inserted: 1 } };
    if (run) changes[T.runs] = { inserted: 1 };
    return { result: resultOf(charge, run?.id ?? null), runId: run?.id ?? null, changes, totalsBefore: null, totalsAfter: run ? totalsToJson(run.totals) : null };
  });
  return { decided, writes: [chargesInsert(charges), runsInsert(runs), receiptsInsert(receipts)] };
};
