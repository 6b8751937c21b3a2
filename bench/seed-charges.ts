import type { Knex } from 'knex';
import pino from 'pino';
import { ulid } from 'ulid';
import * as createChargeJob from '../jobs/create-charge';
import { applyJob } from '../src/engine/batch-runner';
import { cloneCharge } from '../test/helpers/clone-charges';

export function chargePayload(namespace: string, id: string, amount: string) {
  const period = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
  return {
    namespace,
    id,
    customerId: 'bench-customer',
    currency: 'USD',
    name: 'Bench fee',
    settlementMode: 'credit_then_invoice',
    paymentTerm: 'in_advance',
    invoiceAt: '2026-01-01T00:00:00Z',
    servicePeriod: period,
    fullServicePeriod: period,
    billingPeriod: period,
    proRating: { enabled: false, mode: 'prorate_prices' },
    amountBeforeProration: amount,
  };
}

/**
 * `count` active credit_then_invoice charges with their current run: one made by the real
 * create-charge job, the rest copied from it (setup, not the thing measured).
 */
export async function seedCharges(knex: Knex, namespace: string, count: number, amount = '1000000'): Promise<string[]> {
  const template = ulid();
  const created = await applyJob(createChargeJob, chargePayload(namespace, template, amount), { knex, logger: pino({ level: 'silent' }), job: null, jobId: `seed-${template}` });
  const copies = await cloneCharge(knex, { chargeId: template, runId: created.currentRunId as string }, count - 1);
  await knex.raw('ANALYZE');
  return [template, ...copies.map((c) => c.chargeId)];
}
