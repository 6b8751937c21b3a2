import * as usageJob from '../../jobs/create-invoiced-usage';
import { Charge } from '../domain/charge';
import { checkUsage, DetailedLine, InvoicedUsage, planDetailedLines } from '../domain/invoiced-usage';
import type { TableChanges } from '../domain/journal';
import { Run } from '../domain/run';
import { totalsToJson } from '../domain/totals';
import { lockChargesWithRuns, lockedOf } from '../db/batch-charges';
import { usagesOf, usagesOfCurrentRuns } from '../db/batch-payment';
import { detailedLinesInsert, detailedLinesSoftDelete, detailedLinesUpdate, lineOwners, lineOwnersOf, liveLinesOf, liveLinesOfCurrentRuns, runInvoiceLinesUpdate, usagesUpsert } from '../db/batch-usage';
import { T } from '../db/tables';
import { fastUlid } from './ids';
import { BatchFallback, chargeStates, chargeWithRun, FreshApplied, parseOrFallBack, ruleOrFallBack, SetBasedKind, uniqueCharges } from './set-based';

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
 * collation, which this process does not know, so such a batch goes to savepoints.
 */
function liveOrder(lines: DetailedLine[]): DetailedLine[] {
  const sorted = [...lines].sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
  for (let i = 1; i < sorted.length; i++) {
    if ((sorted[i].index ?? null) === (sorted[i - 1].index ?? null)) throw new BatchFallback(`detailed lines of run ${sorted[i].runId} share an index`);
  }
  return sorted;
}

/** One job applied to its charge's in-memory state with the rules the per-job handler uses. */
function applyToState(state: ChargeState, p: usageJob.Payload, owners: Map<string, string>, touched: TouchedLines): FreshApplied {
  const now = new Date();
  const clock = { now, newId: () => fastUlid() };
  const run = state.run;
  const input = usageJob.usageInputOf(p);
  ruleOrFallBack(state.charge.id, () => checkUsage(run, state.usage, input, owners.get(p.lineId) ?? null));
  const usage = usageJob.usageOf(input, run, state.usage, clock);
  const live = state.liveAsRead ? state.live : liveOrder(state.live);
  const plan = planDetailedLines(live, usageJob.detailedLinesOf(p, run, state.charge.paymentTerm, clock), now);

  const changes: TableChanges = {};
  changes[T.runs] = { updated: 1 };
  changes[T.usages] = state.usage ? { updated: 1 } : { inserted: 1 };
  const lines = { ...changed(plan.insert.length, 'inserted'), ...changed(plan.update.length + plan.softDelete.length, 'updated') };
  if (Object.keys(lines).length > 0) changes[T.detailedLines] = lines;

  for (const line of plan.insert) touched.set(line.id, { line, inserted: true, rewritten: true });
  for (const line of plan.update) touched.set(line.id, { line, inserted: touched.get(line.id)?.inserted ?? false, rewritten: true });
  for (const line of plan.softDelete) touched.set(line.id, { line, inserted: touched.get(line.id)?.inserted ?? false, rewritten: touched.get(line.id)?.rewritten ?? false });
  state.run = { ...run, lineId: p.lineId, invoiceId: p.invoiceId, totals: input.totals, updatedAt: now };
  state.usage = usage;
  state.live = [...plan.update, ...plan.insert];
  state.liveAsRead = false;
  state.changed = true;
  owners.set(p.lineId, run.id);
  return { result: usageJob.resultOf(run, usage, plan), runId: run.id, changes, totalsBefore: totalsToJson(run.totals), totalsAfter: totalsToJson(input.totals) };
}

/**
 * Lines inserted and lines soft-deleted go out in one statement, whose parts PostgreSQL runs in no
 * promised order: a new live line whose reference a soft-deleted line of the same run still holds
 * could meet it in the live-reference index, so such a batch goes to savepoints (soft deletes first).
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

/**
 * create-invoiced-usage with set-based statements: lock every charge with its run, read the runs'
 * usages and live detailed lines and the runs that own the batch's lines (four statements, sent with
 * the key claim), decide every job in memory in arrival order, and return the writes (run lines and
 * totals, usages, detailed lines) for the batch's single write statement.
 */
export const usageInBatch: SetBasedKind<usageJob.Payload> = {
  parse: (data) => parseOrFallBack(usageJob.schema, data),
  reads(payloads) {
    const charges = uniqueCharges(payloads);
    return [lockChargesWithRuns(charges), usagesOfCurrentRuns(charges), liveLinesOfCurrentRuns(charges), lineOwners([...new Set(payloads.map((p) => p.lineId))])];
  },
  decide([lockedRows, usageRows, lineRows, ownerRows], fresh) {
    const locked = lockedOf(lockedRows);
    const usages = usagesOf(usageRows);
    const live = liveLinesOf(lineRows);
    const owners = lineOwnersOf(ownerRows);
    const states = chargeStates(fresh, locked, chargeWithRun, ({ charge, run }): ChargeState => ({
      charge, run, usage: usages.get(run.id) ?? null, live: live.get(run.id) ?? [], liveAsRead: true, changed: false,
    }));
    const touched: TouchedLines = new Map();
    const applied = fresh.map((p) => applyToState(states.get(p.chargeId)!, p, owners, touched));
    refuseReusedReferences(touched);
    const all = [...states.values()].filter((s) => s.changed);
    const lines = [...touched.values()];
    const writes = [
      runInvoiceLinesUpdate(all.map((s) => s.run)),
      usagesUpsert(all.map((s) => s.usage!)),
      detailedLinesInsert(lines.filter((l) => l.inserted).map((l) => l.line)),
      detailedLinesUpdate(lines.filter((l) => !l.inserted && l.rewritten).map((l) => l.line)),
      detailedLinesSoftDelete(lines.filter((l) => !l.inserted && !l.rewritten).map((l) => l.line)),
    ];
    return { applied, writes };
  },
};
