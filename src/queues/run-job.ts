import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { claimKey, KeyRef, payloadHash, storeResult } from '../db/idempotency';
import { validate } from '../validation';
import { faultPoint } from './faults';
import { JobDefinition, JobResult } from './job-context';

export interface RunEnv {
  knex: Knex;
  logger: Logger;
  job: Job | null;
  jobId: string | null;
  resumedAfterDelay?: boolean;
}

/** The key a delivery is known by: the payload's idempotencyKey, else the BullMQ job id (SPEC §3). */
export function keyRefOf(queue: string, data: unknown, jobId: string | null): KeyRef {
  const d = (data ?? {}) as Record<string, unknown>;
  const key = typeof d.idempotencyKey === 'string' && d.idempotencyKey.length > 0 ? d.idempotencyKey : jobId ?? '';
  const namespace = typeof d.namespace === 'string' ? d.namespace : '';
  return { queue, namespace, key };
}

/**
 * Applies one job exactly once: the key is claimed, the payload validated and the effect written
 * in one transaction, so a crash anywhere leaves either everything or nothing. Order of checks as
 * SPEC §3: a replay answers before validation; validation before any read of the charge.
 */
export async function runJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  const ref = keyRefOf(def.name, data, env.jobId);
  const hash = payloadHash(data);
  const result = await env.knex.transaction(async (trx) => {
    const claim = await claimKey(trx, ref, hash, env.jobId);
    if (claim.replayed) return { ...claim.result, replayed: true };
    const payload = validate(def.schema, data);
    const result = await def.handle(payload, {
      trx,
      logger: env.logger,
      queue: def.name,
      jobId: env.jobId,
      idempotencyKey: ref.key,
      // Row timestamps keep milliseconds: realizations are ordered by created_at across batches.
      now: new Date(),
      newId: () => ulid(),
      resumedAfterDelay: env.resumedAfterDelay ?? false,
      job: env.job,
    });
    await storeResult(trx, ref, result);
    await faultPoint('before_commit', def.name, env.jobId);
    return result;
  });
  if (!result.replayed) await faultPoint('after_commit', def.name, env.jobId);
  return result;
}
