import { ulid } from 'ulid';
import type { Knex } from 'knex';
import { claimKey, KeyRef, payloadHash, storeResult } from '../db/idempotency';
import { findStoredResult } from '../db/idempotency-lookup';
import { validate } from '../validation';
import { JobDefinition, JobResult } from './job-context';
import type { RunEnv } from './run-job';

// A handler of such a job opens its own transactions through ctx.knex; touching ctx.trx is a bug.
const NO_TRANSACTION = new Proxy({} as Knex.Transaction, {
  get() {
    throw new Error('this job runs its own transactions: use ctx.knex, not ctx.trx');
  },
});

/**
 * Runs a job whose effect is too large for one transaction (the legacy migration, SPEC §7): its
 * batches commit on their own and it resumes from its own checkpoint. Its key (namespace '') is
 * recorded with the final result in a small transaction of its own, so a finished job delivered
 * again answers from the record and moves nothing. A dry run records nothing at all.
 */
export async function runOwnTransactionsJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  const ref = keyOf(def.name, data, env.jobId);
  const hash = payloadHash(data);
  const stored = await findStoredResult(env.knex, ref, hash);
  if (stored) return { ...stored, replayed: true };
  const payload = validate(def.schema, data);
  const result = await def.handle(payload, {
    trx: NO_TRANSACTION,
    knex: env.knex,
    logger: env.logger,
    queue: def.name,
    jobId: env.jobId,
    idempotencyKey: ref.key,
    now: new Date(),
    newId: () => ulid(),
    resumedAfterDelay: env.resumedAfterDelay ?? false,
    job: env.job,
  });
  if ((payload as { dryRun?: unknown }).dryRun === true) return result;
  return env.knex.transaction(async (trx) => {
    const claim = await claimKey(trx, ref, hash, env.jobId);
    // A twin delivery that finished first recorded its result; both saw the same final state.
    if (claim.replayed) return { ...claim.result, replayed: true };
    await storeResult(trx, ref, result);
    return result;
  });
}

function keyOf(queue: string, data: unknown, jobId: string | null): KeyRef {
  const key = (data as { idempotencyKey?: unknown } | null)?.idempotencyKey;
  return { queue, namespace: '', key: typeof key === 'string' && key.length > 0 ? key : jobId ?? '' };
}
