import Decimal from 'decimal.js';
import { DomainError } from './errors';
import { Run, RunChild } from './run';
import { Period } from './time';
import { Totals } from './totals';

export interface InvoicedUsage extends RunChild {
  servicePeriod: Period;
  ledgerTransactionGroupId: string | null;
  totals: Totals;
}

export interface DetailedLine extends RunChild {
  childUniqueReferenceId: string;
  name: string;
  description: string | null;
  quantity: Decimal;
  perUnitAmount: Decimal;
  category: string;
  paymentTerm: string;
  servicePeriod: Period;
  index: number | null;
  totals: Totals;
}

export interface UsageInput {
  lineId: string;
  invoiceId: string;
  servicePeriod: Period;
  totals: Totals;
  ledgerTransactionGroupId: string | null;
}

/**
 * A run holds at most one invoiced usage, for one line. The same line again refreshes it; another
 * line is an error. `lineOwner` is the run that already uses this line, if any.
 */
export function checkUsage(run: Run, existing: InvoicedUsage | null, input: UsageInput, lineOwner: string | null): void {
  if (lineOwner !== null && lineOwner !== run.id) {
    throw new DomainError('line_already_used', `line ${input.lineId} is already used by run ${lineOwner} [run_id=${run.id}]`);
  }
  if (existing && run.lineId !== input.lineId) {
    throw new DomainError(
      'invoiced_usage_already_exists',
      `run already has invoiced usage ${existing.id} for line ${run.lineId}; refusing line ${input.lineId} [run_id=${run.id}]`,
    );
  }
}

export interface DetailedLinesPlan {
  insert: DetailedLine[];
  update: DetailedLine[];
  softDelete: DetailedLine[];
}

/**
 * Upsert by child reference: new values win except id and created_at; live rows whose reference is
 * missing from the new set are soft-deleted.
 */
export function planDetailedLines(live: DetailedLine[], incoming: DetailedLine[], now: Date): DetailedLinesPlan {
  const byRef = new Map(live.map((l) => [l.childUniqueReferenceId, l]));
  const incomingRefs = new Set(incoming.map((l) => l.childUniqueReferenceId));
  const plan: DetailedLinesPlan = { insert: [], update: [], softDelete: [] };
  for (const line of incoming) {
    const current = byRef.get(line.childUniqueReferenceId);
    if (current) plan.update.push(Object.assign({}, line, { id: current.id, createdAt: current.createdAt, updatedAt: now }));
    else plan.insert.push(line);
  }
  for (const line of live) {
    if (!incomingRefs.has(line.childUniqueReferenceId)) plan.softDelete.push(Object.assign({}, line, { deletedAt: now, updatedAt: now }));
  }
  return plan;
}
