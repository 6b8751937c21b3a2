import { Money, sum } from '../../domain/money';
import type { History } from '../../cli/history';
import type { ChargeDocument, RunJson } from './load';

// What the page derives from the charge document: the answers a person looks for that the readers
// leave implicit (which correction takes back which allocation, what is left of it, why a run is
// no longer current). Pure functions over the same JSON the API returns.

export type RealizationJson = RunJson['creditRealizations'][number];

export interface AllocationNode {
  realization: RealizationJson;
  /** The allocation's amount plus its live corrections: what a further correction could still take back. */
  remaining: string | null;
  corrections: RealizationJson[];
}

/**
 * Allocations in their order with the corrections that target them nested underneath; a correction
 * whose target is not on this run (legacy data) stands on its own.
 */
export function nestRealizations(realizations: RealizationJson[]): AllocationNode[] {
  const byTarget = new Map<string, RealizationJson[]>();
  const allocationIds = new Set(realizations.filter((r) => r.type === 'allocation').map((r) => r.id));
  const nodes: AllocationNode[] = [];
  for (const r of realizations) {
    if (r.type === 'correction' && r.correctsRealizationId && allocationIds.has(r.correctsRealizationId)) {
      byTarget.set(r.correctsRealizationId, [...(byTarget.get(r.correctsRealizationId) ?? []), r]);
    }
  }
  for (const r of realizations) {
    if (r.type === 'allocation') {
      const corrections = byTarget.get(r.id) ?? [];
      const live = corrections.filter((c) => c.deletedAt === null).map((c) => new Money(c.amount));
      const remaining = r.deletedAt === null ? new Money(r.amount).plus(sum(live)).toFixed() : null;
      nodes.push({ realization: r, remaining, corrections });
    } else if (!(r.correctsRealizationId && allocationIds.has(r.correctsRealizationId))) {
      nodes.push({ realization: r, remaining: null, corrections: [] });
    }
  }
  return nodes;
}

export function isVoidedRun(run: RunJson): boolean {
  return run.type === 'invalid_due_to_unsupported_credit_note' || run.deletedAt !== null;
}

/** The run's live realizations (allocations plus corrections); what realizedCredits counts for a current run. */
export function realizedOn(run: RunJson): string {
  if (isVoidedRun(run)) return '0';
  return sum(run.creditRealizations.filter((r) => r.deletedAt === null).map((r) => new Money(r.amount))).toFixed();
}

/**
 * What the realized amount is made of: live allocations, and what live corrections took back (as a
 * positive amount). A voided run realizes nothing whatever its rows say.
 */
export function creditBreakdown(run: RunJson): { allocated: string; takenBack: string; realized: string; voided: boolean } {
  const live = run.creditRealizations.filter((r) => r.deletedAt === null);
  const total = (type: RealizationJson['type']) => sum(live.filter((r) => r.type === type).map((r) => new Money(r.amount)));
  return { allocated: total('allocation').toFixed(), takenBack: total('correction').neg().toFixed(), realized: realizedOn(run), voided: isVoidedRun(run) };
}

type Entry = History['entries'][number];

/** The applied journal entry after which the charge named another run than `runId`, if the journal saw it. */
function switchAway(runId: string, entries: Entry[]): { entry: Entry; to: string | null } | null {
  let seen = false;
  for (const entry of entries) {
    if (entry.outcome !== 'applied') continue;
    if (entry.runId === runId) seen = true;
    else if (seen) return { entry, to: entry.runId };
  }
  return null;
}

/** Why a run is a prior run, in a sentence an operator can act on. */
export function whyPrior(run: RunJson, doc: ChargeDocument): string {
  const reasons: string[] = [];
  if (run.type === 'invalid_due_to_unsupported_credit_note') reasons.push('voided: invalidated by an unsupported credit note');
  if (run.deletedAt !== null) reasons.push(`voided: deleted at ${run.deletedAt}`);
  const switched = switchAway(run.id, doc.history.entries);
  if (switched) {
    const job = switched.entry.jobId ? ` job ${switched.entry.jobId}` : '';
    // A re-proration's entry names what the run it left had realized: no longer counted once the run is prior.
    const released = switched.entry.runChange?.previousRunId === run.id ? `, releasing ${switched.entry.runChange.releasedCredits} of credits` : '';
    reasons.push(`replaced by run ${switched.to ?? '(none)'} through ${switched.entry.queue}${job} at ${switched.entry.finishedAt}${released}`);
  } else if (reasons.length === 0) {
    const current = doc.charge.currentRealizationRunId;
    reasons.push(current ? `the charge points at run ${current}; the journal has no entry for the switch (it predates the journal)` : 'the charge points at no run');
  }
  return reasons.join('; ');
}
