import { applyBatch } from './batch-apply';
import { chargeKeyOf } from './batch-finish';
import { BatchCollector } from './batch-collector';
import { batchSettingsFrom } from '../config';
import { BatchEnv, BatchItem } from './batch-item';
import { JobResult } from '../domain/decision';
import { JobDefinition, RunEnv } from './job-context';
import { runOwnTransactionsJob } from './run-own-transactions';

export type JobRunner = (def: JobDefinition, data: unknown, env: RunEnv) => Promise<JobResult>;

/** FNV-1a: a cheap, stable spread of charge ids over the partitions. */
function partitionOf(chargeKey: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < chargeKey.length; i++) h = Math.imul(h ^ chargeKey.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

function itemOf(data: unknown, env: RunEnv): BatchItem {
  return { data, jobId: env.jobId, job: env.job, resumedAfterDelay: env.resumedAfterDelay ?? false, startedAt: new Date(), onJournal: env.onJournal };
}

/**
 * Applies one job on its own, as a batch of one through the engine (or, for a job that runs its own
 * transactions, through its handler): its result, or the error it fails with.
 */
export async function applyJob(def: JobDefinition, data: unknown, env: RunEnv): Promise<JobResult> {
  if (def.runsOwnTransactions) return runOwnTransactionsJob(def, data, env);
  const [outcome] = await applyBatch(def, [itemOf(data, env)], env);
  if (outcome.ok) return outcome.result;
  throw outcome.error;
}

/**
 * The worker's runner: it hands each delivery to a collector, so deliveries that are in flight
 * together commit in one transaction. Each queue has `partitions` collectors and a charge always
 * goes to the same one: its jobs stay in arrival order, while batches of other charges commit in
 * parallel without ever waiting on each other's row locks. Jobs that manage their own transactions
 * (the legacy migration) run on their own.
 */
export function createBatchRunner(env: BatchEnv, maxSize: number, partitions = batchSettingsFrom().partitions): JobRunner {
  const collectors = new Map<string, BatchCollector>();
  const collectorFor = (def: JobDefinition, data: unknown): BatchCollector => {
    const key = `${def.name}/${partitionOf(chargeKeyOf(data), partitions)}`;
    let collector = collectors.get(key);
    if (!collector) {
      // A batch holds at least one job: a size below 1 would gather nothing and never drain.
      collector = new BatchCollector(Math.max(1, maxSize), (items: BatchItem[]) => applyBatch(def, items, env));
      collectors.set(key, collector);
    }
    return collector;
  };
  return (def, data, runEnv) => {
    if (def.runsOwnTransactions) return runOwnTransactionsJob(def, data, runEnv);
    return collectorFor(def, data).submit(itemOf(data, runEnv));
  };
}
