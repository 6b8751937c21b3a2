import * as yup from 'yup';
import { PAYMENT_TERMS } from '../src/domain/charge';
import { checkUsage, DetailedLine, DetailedLinesPlan, InvoicedUsage, planDetailedLines, UsageInput } from '../src/domain/invoiced-usage';
import { money } from '../src/domain/money';
import { Run } from '../src/domain/run';
import { parseInstant, Period } from '../src/domain/time';
import { totalsFromStrings } from '../src/domain/totals';
import { Charge } from '../src/domain/charge';
import type { TableChanges } from '../src/domain/journal';
import { totalsToJson } from '../src/domain/totals';
import { lockChargesWithRuns, lockedOf } from '../src/db/batch-charges';
import { usagesOf, usagesOfCurrentRuns } from '../src/db/batch-payment';
import { detailedLinesInsert, detailedLinesSoftDelete, detailedLinesUpdate, lineOwners, lineOwnersOf, liveLinesOf, liveLinesOfCurrentRuns, runInvoiceLinesUpdate, usagesUpsert } from '../src/db/batch-usage';
import { T } from '../src/db/tables';
import { fastUlid } from '../src/domain/ids';
import { BatchFallback, ChargeStates, chargeWithRun, decideEach, FreshApplied, JobKind, uniqueCharges } from '../src/domain/decision';
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

/** What a usage's rows need from the job besides its payload: a clock and ids. */
export interface UsageClock {
  now: Date;
  newId: () => string;
}

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

/** One charge while the batch's usage jobs are applied to it in memory, in order. */
interface ChargeState {
  charge: Charge;
  /** The current run as the jobs so far left it (line, invoice, totals). */
  run: Run;
  usage: InvoicedUsage | null;
  /** Live detailed lines: as read (in listLiveDetailedLines' order), or as an earlier job of the batch left them. */
  live: DetailedLine[];
  liveAsRead: boolean;
  changed: boolean;
}

/**
 * Every detailed line the batch touched, as it ends up: whether the batch inserted it, and whether
 * a plan rewrote it (an update writes every column; a soft delete only deleted_at and updated_at,
 * as applyDetailedLinesPlan does, so a migrated line keeps its stored scale and precision).
 */
type TouchedLines = Map<string, { line: DetailedLine; inserted: boolean; rewritten: boolean }>;

function changed(count: number, kind: 'inserted' | 'updated'): Partial<Record<'inserted' | 'updated', number>> | null {
  return count > 0 ? { [kind]: count } : null;
}

/**
 * A second job on the same run reads the first one's lines back in listLiveDetailedLines' order
 * (index, then child reference): two lines with the same index would be ordered by the database's
 * collation, which this process does not know, so such a batch is applied one job at a time.
 */
function liveOrder(lines: DetailedLine[]): DetailedLine[] {
  const sorted = [...lines].sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
  for (let i = 1; i < sorted.length; i++) {
    if ((sorted[i].index ?? null) === (sorted[i - 1].index ?? null)) throw new BatchFallback(`detailed lines of run ${sorted[i].runId} share an index`);
  }
  return sorted;
}

/** Records what was invoiced for the current run: totals, line and invoice refs, detailed lines. checkUsage throws before anything changes. */
function applyToState(state: ChargeState, p: Payload, owners: Map<string, string>, touched: TouchedLines): FreshApplied {
  const now = new Date();
  const clock = { now, newId: () => fastUlid() };
  const run = state.run;
  const input = usageInputOf(p);
  checkUsage(run, state.usage, input, owners.get(p.lineId) ?? null);
  const usage = usageOf(input, run, state.usage, clock);
  const live = state.liveAsRead ? state.live : liveOrder(state.live);
  const plan = planDetailedLines(live, detailedLinesOf(p, run, state.charge.paymentTerm, clock), now);

  const changes: TableChanges = {};
  changes[T.runs] = { updated: 1 };
  changes[T.usages] = state.usage ? { updated: 1 } : { inserted: 1 };
  const lines = { ...changed(plan.insert.length, 'inserted'), ...changed(plan.update.length + plan.softDelete.length, 'updated') };
  if (Object.keys(lines).length > 0) changes[T.detailedLines] = lines;

  for (const line of plan.insert) touched.set(line.id, { line, inserted: true, rewritten: true });
  for (const line of plan.update) touched.set(line.id, { line, inserted: touched.get(line.id)?.inserted ?? false, rewritten: true });
  for (const line of plan.softDelete) touched.set(line.id, { line, inserted: touched.get(line.id)?.inserted ?? false, rewritten: touched.get(line.id)?.rewritten ?? false });
  state.run = Object.assign({}, run, { lineId: p.lineId, invoiceId: p.invoiceId, totals: input.totals, updatedAt: now });
  state.usage = usage;
  state.live = [...plan.update, ...plan.insert];
  state.liveAsRead = false;
  state.changed = true;
  owners.set(p.lineId, run.id);
  return { result: resultOf(run, usage, plan), runId: run.id, changes, totalsBefore: totalsToJson(run.totals), totalsAfter: totalsToJson(input.totals) };
}

/**
 * Lines inserted and lines soft-deleted go out in one statement, whose parts PostgreSQL runs in no
 * promised order: a new live line whose reference a soft-deleted line of the same run still holds
 * could meet it in the live-reference index, so such a batch is applied one job at a time.
 */
function refuseReusedReferences(touched: TouchedLines): void {
  const freed = new Set<string>();
  for (const { line, inserted } of touched.values()) if (!inserted && line.deletedAt !== null) freed.add(`${line.runId}\u0000${line.childUniqueReferenceId}`);
  for (const { line, inserted } of touched.values()) {
    if (inserted && line.deletedAt === null && freed.has(`${line.runId}\u0000${line.childUniqueReferenceId}`)) {
      throw new BatchFallback(`detailed line reference ${line.childUniqueReferenceId} is freed and taken again in one batch`);
    }
  }
}

/** Locks every charge with its run; reads the runs' usages, live detailed lines and the runs that own the batch's lines. */
export function reads(payloads: Payload[]) {
  const charges = uniqueCharges(payloads);
  return [...lockChargesWithRuns(charges), usagesOfCurrentRuns(charges), liveLinesOfCurrentRuns(charges), lineOwners([...new Set(payloads.map((p) => p.lineId))])];
}

/** Decides every job in arrival order; writes run lines and totals, usages and detailed lines. */
export const decide: JobKind<Payload>['decide'] = ([lockedRows, runRows, usageRows, lineRows, ownerRows], fresh) => {
  const usages = usagesOf(usageRows);
  const live = liveLinesOf(lineRows);
  const owners = lineOwnersOf(ownerRows);
  const states = new ChargeStates(lockedOf(lockedRows, runRows), chargeWithRun, ({ charge, run }): ChargeState => ({
    charge, run, usage: usages.get(run.id) ?? null, live: live.get(run.id) ?? [], liveAsRead: true, changed: false,
  }));
  const touched: TouchedLines = new Map();
  const decided = decideEach(fresh, (p) => applyToState(states.of(p), p, owners, touched));
  refuseReusedReferences(touched);
  const all = states.values().filter((s) => s.changed);
  const lines = [...touched.values()];
  const writes = [
    runInvoiceLinesUpdate(all.map((s) => s.run)),
    usagesUpsert(all.map((s) => s.usage!)),
    detailedLinesInsert(lines.filter((l) => l.inserted).map((l) => l.line)),
    detailedLinesUpdate(lines.filter((l) => !l.inserted && l.rewritten).map((l) => l.line)),
    detailedLinesSoftDelete(lines.filter((l) => !l.inserted && !l.rewritten).map((l) => l.line)),
  ];
  return { decided, writes };
};
