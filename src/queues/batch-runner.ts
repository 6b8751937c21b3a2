import { applyBatch } from './batch-apply';
import { chargeKeyOf } from './batch-savepoint';
import { BatchCollector } from './batch-collector';
import { BatchEnv, BatchItem, batchSettingsFromEnv } from './batch-item';
import { JobDefinition, JobResult } from './job-context';
import { RunEnv, runJob } from './run-job';
import { observeBatchOutcomes } from '../observability/metrics';

export type JobRunner = (def: JobDefinition, data: unknown, env: RunEnv) => Promise<JobResult>;

/** FNV-1a: a cheap, stable spread of charge ids over the partitions. */
function partitionOf(chargeKey: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < chargeKey.length; i++) h = Math.imul(h ^ chargeKey.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

/**
 * Jobs in flight per queue for the batched path: every partition's batch being applied plus one
 * batch gathering meanwhile, so batches fill from BullMQ's deliveries.
 */
export function batchedConcurrency(concurrency: number, batchSize: number, partitions = batchSettingsFromEnv().partitions): number {
  return Math.max(concurrency, (partitions + 1) * batchSize);
}

/**
 * A drop-in for runJob that hands each delivery to a collector, so deliveries that are in flight
 * together commit in one transaction. Each queue has `partitions` collectors and a charge always
 * goes to the same one: its jobs stay in arrival order, while batches of other charges commit in
 * parallel without ever waiting on each other's row locks. Jobs that manage their own
 * transactions (the legacy migration) keep the per-job path.
 */
export function createBatchRunner(env: BatchEnv, maxSize: number, partitions = batchSettingsFromEnv().partitions): JobRunner {
  const collectors = new Map<string, BatchCollector>();
  const collectorFor = (def: JobDefinition, data: unknown): BatchCollector => {
    const key = `${def.name}/${partitionOf(chargeKeyOf(data), partitions)}`;
    let collector = collectors.get(key);
    if (!collector) {
      collector = new BatchCollector(maxSize, (items: BatchItem[]) => applyBatch(def, items, env).then((outcomes) => observeBatchOutcomes(def.name, outcomes)));
      collectors.set(key, collector);
    }
    return collector;
  };
  return (def, data, runEnv) => {
    if (def.runsOwnTransactions) return runJob(def, data, runEnv);
    return collectorFor(def, data).submit({
      data,
      jobId: runEnv.jobId,
      job: runEnv.job,
      resumedAfterDelay: runEnv.resumedAfterDelay ?? false,
      startedAt: new Date(),
      onJournal: runEnv.onJournal,
    });
  };
}
