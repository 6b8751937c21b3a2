import * as yup from 'yup';
import { PAYMENT_TERMS } from '../src/domain/charge';
import { checkUsage, DetailedLine, DetailedLinesPlan, InvoicedUsage, planDetailedLines, UsageInput } from '../src/domain/invoiced-usage';
import { money } from '../src/domain/money';
import { Run } from '../src/domain/run';
import { parseInstant, Period } from '../src/domain/time';
import { totalsFromStrings } from '../src/domain/totals';
import { lockChargeWithRun } from '../src/db/charge-guard';
import { applyDetailedLinesPlan, listLiveDetailedLines } from '../src/db/detailed-lines';
import { findUsageOfRun, upsertUsage } from '../src/db/invoiced-usages';
import { findRunIdByLine, setRunInvoiceLine } from '../src/db/runs';
import { JobContext } from '../src/queues/job-context';
import { amount, idempotencyKey, nonNegativeAmount, period, strictObject, text, totalsSchema, ulid } from '../src/validation';

export const name = 'create-invoiced-usage';

const detailedLineSchema = strictObject({
  childUniqueReferenceId: text().required(),
  name: text().required(),
  description: yup.string().max(10000).optional(),
  quantity: nonNegativeAmount().required(),
  perUnitAmount: amount().required(),
  category: text().optional(),
  paymentTerm: yup.string().oneOf(PAYMENT_TERMS).optional(),
  servicePeriod: period().optional(),
  index: yup.number().integer().min(0).optional(),
  totals: totalsSchema().required(),
});

export const schema = strictObject({
  namespace: text().required(),
  chargeId: ulid().required(),
  lineId: ulid().required(),
  invoiceId: ulid().required(),
  servicePeriod: period().required(),
  totals: totalsSchema().required(),
  ledgerTransactionGroupId: text().optional(),
  detailedLines: yup
    .array(detailedLineSchema.required())
    .max(10000)
    .optional()
    .test('unique-child-references', '${path} repeats a childUniqueReferenceId', (lines) => {
      if (!lines) return true;
      const refs = lines.map((l) => l?.childUniqueReferenceId);
      return new Set(refs).size === refs.length;
    }),
  idempotencyKey: idempotencyKey().optional(),
});
export type Payload = yup.InferType<typeof schema>;

/** What a usage's rows need from the job besides its payload: a clock and ids (a JobContext is one). */
export type UsageClock = Pick<JobContext, 'now' | 'newId'>;

function periodOf(p: { from: string; to: string }): Period {
  return { from: parseInstant(p.from), to: parseInstant(p.to) };
}

export function usageInputOf(p: Payload): UsageInput {
  return { lineId: p.lineId, invoiceId: p.invoiceId, servicePeriod: periodOf(p.servicePeriod), totals: totalsFromStrings(p.totals), ledgerTransactionGroupId: p.ledgerTransactionGroupId ?? null };
}

/** The run's usage after this job: a refresh keeps the existing row's id and created_at. */
export function usageOf(input: UsageInput, run: Run, existing: InvoicedUsage | null, ctx: UsageClock): InvoicedUsage {
  return {
    id: existing?.id ?? ctx.newId(),
    namespace: run.namespace,
    runId: run.id,
    createdAt: existing?.createdAt ?? ctx.now,
    updatedAt: ctx.now,
    deletedAt: null,
    servicePeriod: input.servicePeriod,
    ledgerTransactionGroupId: input.ledgerTransactionGroupId,
    totals: input.totals,
  };
}

export function detailedLinesOf(p: Payload, run: Run, paymentTerm: string, ctx: UsageClock): DetailedLine[] {
  return (p.detailedLines ?? []).map((l, index) => ({
    id: ctx.newId(),
    namespace: p.namespace,
    runId: run.id,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    deletedAt: null,
    childUniqueReferenceId: l.childUniqueReferenceId,
    name: l.name,
    description: l.description ?? null,
    quantity: money(l.quantity),
    perUnitAmount: money(l.perUnitAmount),
    category: l.category ?? 'regular',
    paymentTerm: l.paymentTerm ?? paymentTerm,
    servicePeriod: l.servicePeriod ? periodOf(l.servicePeriod) : periodOf(p.servicePeriod),
    index: l.index ?? index,
    totals: totalsFromStrings(l.totals),
  }));
}

export function resultOf(run: Run, usage: InvoicedUsage, plan: DetailedLinesPlan) {
  return {
    chargeId: run.chargeId,
    runId: run.id,
    invoicedUsageId: usage.id,
    detailedLineIds: [...plan.update, ...plan.insert].map((l) => l.id),
    deletedDetailedLineIds: plan.softDelete.map((l) => l.id),
  };
}

/** Records what was invoiced for the current run: totals, line and invoice refs, detailed lines. */
export async function handle(p: Payload, ctx: JobContext) {
  const { charge, run } = await lockChargeWithRun(ctx.trx, p.namespace, p.chargeId);
  const existing = await findUsageOfRun(ctx.trx, p.namespace, run.id);
  const lineOwner = await findRunIdByLine(ctx.trx, p.lineId);
  const input = usageInputOf(p);
  checkUsage(run, existing, input, lineOwner);

  const usage = usageOf(input, run, existing, ctx);
  await setRunInvoiceLine(ctx.trx, run, p.lineId, p.invoiceId, input.totals, ctx.now);
  await upsertUsage(ctx.trx, usage);
  const live = await listLiveDetailedLines(ctx.trx, p.namespace, run.id);
  const plan = planDetailedLines(live, detailedLinesOf(p, run, charge.paymentTerm, ctx), ctx.now);
  await applyDetailedLinesPlan(ctx.trx, plan);
  return resultOf(run, usage, plan);
}
