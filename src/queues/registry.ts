import * as activateCharge from '../../jobs/activate-charge';
import * as allocateCredit from '../../jobs/allocate-credit';
import * as createCharge from '../../jobs/create-charge';
import * as createInvoicedUsage from '../../jobs/create-invoiced-usage';
import * as deleteCharge from '../../jobs/delete-charge';
import * as migrateLegacyFlatFees from '../../jobs/migrate-legacy-flat-fees';
import * as payment from '../../jobs/payment';
import * as reprorateCharge from '../../jobs/reprorate-charge';
import { JobDefinition } from '../engine/job-context';

/** Every job kind, imported explicitly; the queue name and the job name are the kind (SPEC §3). */
export const JOBS = {
  [createCharge.name]: createCharge,
  [activateCharge.name]: activateCharge,
  [allocateCredit.name]: allocateCredit,
  [createInvoicedUsage.name]: createInvoicedUsage,
  [payment.name]: payment,
  [deleteCharge.name]: deleteCharge,
  [reprorateCharge.name]: reprorateCharge,
  [migrateLegacyFlatFees.name]: migrateLegacyFlatFees,
} as const satisfies Record<string, JobDefinition>;

export type QueueName = keyof typeof JOBS;
export const QUEUE_NAMES = Object.keys(JOBS) as QueueName[];

export function jobDefinition(name: string): JobDefinition | undefined {
  return (JOBS as Record<string, JobDefinition>)[name];
}
