import { Knex } from 'knex';
import { Charge } from '../domain/charge';
import { CreditRealization } from '../domain/credit';
import { DetailedLine, InvoicedUsage } from '../domain/invoiced-usage';
import { Payment } from '../domain/payment';
import { compareRuns, Run } from '../domain/run';
import { findCharge } from './charges';
import { currentRunNotLoaded } from '../domain/charge-checks';
import { listLiveDetailedLines, listPaymentsOfRuns, listRealizationsOfRuns, listRunsOfCharges, listUsagesOfRuns } from './run-reads';

export type ChargeExpand = 'realizations' | 'detailedLines';

export interface RunView extends Run {
  creditRealizations: CreditRealization[];
  invoicedUsage: InvoicedUsage | null;
  payment: Payment | null;
  detailedLines?: DetailedLine[];
}

export interface ChargeView extends Charge {
  realizations?: { currentRun: RunView | null; priorRuns: RunView[] };
}

/**
 * The one place that splits runs into the current run and prior runs, by the charge's pointer.
 * A pointer naming no loaded run is an error, never a silent null (SPEC §4).
 */
export function splitRuns<R extends Run>(charge: Charge, runs: R[]): { currentRun: R | null; priorRuns: R[] } {
  const sorted = [...runs].sort(compareRuns);
  if (charge.currentRealizationRunId === null) return { currentRun: null, priorRuns: sorted };
  const currentRun = sorted.find((r) => r.id === charge.currentRealizationRunId);
  if (!currentRun) throw currentRunNotLoaded(charge);
  return { currentRun, priorRuns: sorted.filter((r) => r !== currentRun) };
}

export async function getCharge(
  knex: Knex,
  namespace: string,
  chargeId: string,
  options: { expand?: ChargeExpand[] } = {},
): Promise<ChargeView | null> {
  const charge = await findCharge(knex, namespace, chargeId);
  if (!charge) return null;
  const expand = new Set(options.expand ?? []);
  if (!expand.has('realizations') && !expand.has('detailedLines')) return charge;

  const runs = await listRunsOfCharges(knex, namespace, [chargeId]);
  const runIds = runs.map((r) => r.id);
  // One after another: the board reads inside a snapshot transaction, which is a single connection.
  const realizations = await listRealizationsOfRuns(knex, namespace, runIds);
  const usages = await listUsagesOfRuns(knex, namespace, runIds);
  const payments = await listPaymentsOfRuns(knex, namespace, runIds);
  const views: RunView[] = runs.map((run) => ({
    ...run,
    creditRealizations: realizations.filter((r) => r.runId === run.id),
    invoicedUsage: usages.find((u) => u.runId === run.id) ?? null,
    payment: payments.find((p) => p.runId === run.id) ?? null,
  }));
  const split = splitRuns(charge, views);
  if (expand.has('detailedLines') && split.currentRun) {
    split.currentRun.detailedLines = await listLiveDetailedLines(knex, namespace, split.currentRun.id);
  }
  return { ...charge, realizations: split };
}
