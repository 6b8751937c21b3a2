import { Knex } from 'knex';
import { Charge } from '../domain/charge';
import { provisionRun, Run } from '../domain/run';
import { pointAtRun } from './charges';
import { insertRun } from './runs';

/** Gives the charge its current run unless it has one (SPEC §2: provisioning is idempotent). */
export async function ensureCurrentRun(
  trx: Knex.Transaction,
  charge: Charge,
  existing: Run | null,
  newId: () => string,
  now: Date,
): Promise<{ run: Run; provisioned: boolean }> {
  if (existing) return { run: existing, provisioned: false };
  const run = provisionRun(charge, newId(), now);
  await insertRun(trx, run);
  await pointAtRun(trx, charge, run.id, now);
  return { run, provisioned: true };
}
