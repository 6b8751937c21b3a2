import { Knex } from 'knex';
import { CreditRealization } from '../domain/credit';
import { DetailedLine, InvoicedUsage } from '../domain/invoiced-usage';
import { Payment } from '../domain/payment';
import { Run } from '../domain/run';
import { fromDbDetailedLine, fromDbPayment, fromDbRealization, fromDbRun, fromDbUsage } from './mapping';
import { T } from './tables';

// What getCharge reads of a charge's runs and of what hangs off them (SPEC §4), outside any job.

/** Runs in SPEC §2's order: service_period_to, then created_at. */
export async function listRunsOfCharges(db: Knex, namespace: string, chargeIds: string[]): Promise<Run[]> {
  const rows = await db(T.runs)
    .where({ namespace })
    .whereIn('charge_id', chargeIds)
    .orderBy([{ column: 'service_period_to' }, { column: 'created_at' }, { column: 'id' }]);
  return rows.map(fromDbRun);
}

export async function listRealizationsOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<CreditRealization[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.realizations)
    .where({ namespace })
    .whereIn('run_id', runIds)
    .orderBy([{ column: 'created_at' }, { column: 'sort_hint' }, { column: 'id' }]);
  return rows.map(fromDbRealization);
}

export async function listUsagesOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<InvoicedUsage[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.usages).where({ namespace }).whereIn('run_id', runIds);
  return rows.map(fromDbUsage);
}

export async function listPaymentsOfRuns(db: Knex, namespace: string, runIds: string[]): Promise<Payment[]> {
  if (runIds.length === 0) return [];
  const rows = await db(T.payments).where({ namespace }).whereIn('run_id', runIds);
  return rows.map(fromDbPayment);
}

export async function listLiveDetailedLines(db: Knex, namespace: string, runId: string): Promise<DetailedLine[]> {
  const rows = await db(T.detailedLines)
    .where({ namespace, run_id: runId })
    .whereNull('deleted_at')
    .orderBy([{ column: 'index' }, { column: 'child_unique_reference_id' }]);
  return rows.map(fromDbDetailedLine);
}
