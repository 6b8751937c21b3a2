import * as yup from 'yup';
import { allocateCredit, REALIZATION_TYPES, RealizationInput } from '../src/domain/credit';
import { money } from '../src/domain/money';
import { parseInstant } from '../src/domain/time';
import { updateChargeStatus } from '../src/db/charges';
import { lockChargeWithRun } from '../src/db/charge-guard';
import { insertRealizations, listRealizationsOfRuns } from '../src/db/credit-realizations';
import { updateRunTotals } from '../src/db/runs';
import { JobContext } from '../src/queues/job-context';
import { amount, idempotencyKey, isDecimalString, jsonObject, period, strictObject, text, ulid } from '../src/validation';

export const name = 'allocate-credit';

const realizationSchema = strictObject({
  type: yup.string().oneOf(REALIZATION_TYPES).required(),
  amount: amount().required(),
  transactionGroupId: text().required(),
  correctsRealizationId: ulid().optional(),
  lineId: ulid().optional(),
  servicePeriod: period().optional(),
  annotations: jsonObject().optional(),
}).test('sign-by-type', '', function (r) {
  // Signs by realization type are validation (SPEC §3): allocation > 0, correction <= 0.
  // A malformed amount is amount()'s error to report; Decimal would throw on it here.
  if (!r || !isDecimalString(r.amount)) return true;
  const value = money(r.amount);
  if (r.type === 'allocation' && !value.gt(0)) return this.createError({ path: `${this.path}.amount`, message: `${this.path}.amount must be > 0 for an allocation` });
  if (r.type === 'correction' && value.gt(0)) return this.createError({ path: `${this.path}.amount`, message: `${this.path}.amount must be <= 0 for a correction` });
  if (r.type === 'correction' && !r.correctsRealizationId) {
    return this.createError({ path: `${this.path}.correctsRealizationId`, message: `${this.path}.correctsRealizationId is required for a correction` });
  }
  if (r.type === 'allocation' && r.correctsRealizationId) {
    return this.createError({ path: `${this.path}.correctsRealizationId`, message: `${this.path}.correctsRealizationId is only for corrections` });
  }
  return true;
});

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  realizations: yup.array(realizationSchema.required()).min(1, '${path} must hold at least one realization').max(1000).required(),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

export function toInput(r: Payload['realizations'][number]): RealizationInput {
  return {
    type: r.type,
    amount: money(r.amount),
    transactionGroupId: r.transactionGroupId,
    correctsRealizationId: r.correctsRealizationId,
    lineId: r.lineId,
    servicePeriod: r.servicePeriod ? { from: parseInstant(r.servicePeriod.from), to: parseInstant(r.servicePeriod.to) } : undefined,
    annotations: r.annotations,
  };
}

export async function handle(p: Payload, ctx: JobContext) {
  const { charge, run } = await lockChargeWithRun(ctx.trx, p.namespace, p.chargeId);
  const existing = await listRealizationsOfRuns(ctx.trx, p.namespace, [run.id]);
  const outcome = allocateCredit({ charge, run, existing, batch: p.realizations.map(toInput), newId: ctx.newId, now: ctx.now });
  await insertRealizations(ctx.trx, outcome.realizations);
  if (outcome.runTotals) await updateRunTotals(ctx.trx, run, outcome.runTotals, ctx.now);
  if (outcome.chargeBecomesFinal) await updateChargeStatus(ctx.trx, charge, 'final', ctx.now);
  return {
    chargeId: charge.id,
    runId: run.id,
    realizationIds: outcome.realizations.map((r) => r.id),
    status: outcome.chargeBecomesFinal ? 'final' : charge.status,
  };
}
