import { Knex } from 'knex';
import pino from 'pino';
import * as createChargeJob from '../../jobs/create-charge';
import { applyJob } from '../../src/engine/batch-runner';
import { chargePayload } from './fixtures';

/** Creates a charge through the real handler without a queue (db-tier tests). */
export async function createCharge(knex: Knex, overrides: Record<string, unknown> = {}) {
  const payload = chargePayload(overrides);
  const result = await applyJob(createChargeJob, payload, { knex, logger: pino({ level: 'silent' }), job: null, jobId: `seed-${payload.id}` });
  return { chargeId: payload.id, runId: result.currentRunId as string | null, payload };
}
