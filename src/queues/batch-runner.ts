import { applyBatch } from './batch-apply';
import { BatchCollector } from './batch-collector';
import { BatchEnv } from './batch-item';
import { JobDefinition, JobResult } from './job-context';
import { RunEnv, runJob } from './run-job';

export type JobRunner = (def: JobDefinition, data: unknown, env: RunEnv) => Promise<JobResult>;

/**
 * A drop-in for runJob that hands each delivery to its queue's collector, so deliveries that are
 * in flight together commit in one transaction. Jobs that manage their own transactions (the legacy
 * migration) keep the per-job path.
 */
export function createBatchRunner(env: BatchEnv, maxSize: number): JobRunner {
  const collectors = new Map<string, BatchCollector>();
  return (def, data, runEnv) => {
    if (def.runsOwnTransactions) return runJob(def, data, runEnv);
    let collector = collectors.get(def.name);
    if (!collector) {
      collector = new BatchCollector(maxSize, (items) => applyBatch(def, items, env));
      collectors.set(def.name, collector);
    }
    return collector.submit({ data, jobId: runEnv.jobId, job: runEnv.job, resumedAfterDelay: runEnv.resumedAfterDelay ?? false });
  };
}
