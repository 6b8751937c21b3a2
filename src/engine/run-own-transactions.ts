import type { Knex } from 'knex';
import { keyRefOf, payloadHash } from '../db/idempotency';
import { claimUnfinishedKey, findKey, finishKey } from '../db/idempotency-lookup';
import { validate } from '../validation';
import { JobResult } from '../domain/decision';
import { handlerContext, JobDefinition, RunEnv } from './job-context';

// A handler of such a job opens its own transactions through ctx.knex; touching ctx.trx is a bug.
const NO_TRANSACTION = new Proxy({} as Knex.Transaction, {
  get() {
    throw new Error('this job runs its own transactions: use ctx.knex, not ctx.trx');
  },
});

/**
 * Runs a job whose effect is too large for one transaction (the legacy migration, SPEC §7): its
 * batches commit on their own and a redelivery resumes from its own checkpoint. Its key (namespace
 * '') is claimed before the first batch, so the same key with another payload fails before moving
 * anything, and gets the final result when the work ends: delivered again, a finished job answers
 * from the record and moves nothing. A dry run records nothing at all.
 */
export async function runOwnTransactionsJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  // Namespace '': the job spans namespaces, so its key is global to its queue.
  const ref = { ...keyRefOf(def.name, data, env.jobId, env.job?.timestamp), namespace: '' };
  const hash = payloadHash(data);
  const seen = await findKey(env.knex, ref, hash);
  if (seen.state === 'finished') return { ...seen.result, replayed: true };
  const payload = validate(def.schema, data);
  const dryRun = (payload as { dryRun?: unknown }).dryRun === true;
  if (!dryRun) await claimUnfinishedKey(env.knex, ref, hash, env.jobId);
  const result = await def.handle!(payload, handlerContext(def.name, ref.key, env, { trx: NO_TRANSACTION, knex: env.knex }));
  if (dryRun) return result;
  const finished = await finishKey(env.knex, ref, result);
  return finished.state === 'finished' ? finished.result : result;
}
