import pino from 'pino';
import * as allocateCredit from '../jobs/allocate-credit';
import { applyBatch } from '../src/engine/batch-apply';
import { BatchItem } from '../src/engine/batch-item';
import { JobDefinition } from '../src/engine/job-context';
import { postgresMsBetween, sampleCpu } from './cpu';
import { Ctx, Measured, allocationPayloads } from './scenarios';
import { seedCharges } from './seed-charges';
import { percentile } from './stats';

// The engine without the queue: allocate-credit jobs handed straight to applyBatch by this process,
// `partitions` batches at a time as the worker's collectors would. What it costs per job, set
// against the end-to-end rows of the same run, is what BullMQ and the worker's edge add.

export async function engineAlone(ctx: Ctx, batchSize: number, partitions: number, jobs: number): Promise<Measured> {
  const namespace = `bench-engine-${batchSize}-${ctx.run}`;
  const charges = await seedCharges(ctx.db.knex, namespace, jobs);
  const payloads = allocationPayloads(namespace, charges, 1);
  const env = { knex: ctx.db.knex, logger: pino({ level: 'warn' }) };
  let statements = 0;
  const count = () => statements++;
  ctx.db.knex.on('query', count);
  const batchMs: number[] = [];
  let next = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  const cpu0 = process.cpuUsage();
  const machine0 = sampleCpu();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: partitions }, async () => {
        while (next < payloads.length) {
          const first = next;
          next += batchSize;
          const items: BatchItem[] = payloads.slice(first, first + batchSize).map((data, i) => ({ data, jobId: `engine-${first + i}`, job: null, resumedAfterDelay: false, startedAt: new Date() }));
          const started = performance.now();
          const outcomes = await applyBatch(allocateCredit as unknown as JobDefinition, items, env);
          batchMs.push(performance.now() - started);
          for (const o of outcomes) {
            if (o.ok) continue;
            failed++;
            firstFailure ??= String(o.error);
          }
        }
      }),
    );
  } finally {
    ctx.db.knex.off('query', count);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const machine1 = sampleCpu();
  const batches = batchMs.length;
  return {
    jobs,
    failed,
    firstFailure,
    rate: jobs / seconds,
    seconds,
    // A batch's own time: every job of it commits together.
    p50: percentile(batchMs, 50),
    p95: percentile(batchMs, 95),
    p99: percentile(batchMs, 99),
    queriesPerJob: statements / jobs,
    commitsPerJob: batches / jobs,
    redisScriptsPerJob: 0,
    redisCommandsPerJob: 0,
    workerCpuMsPerJob: (cpu.user + cpu.system) / 1000 / jobs,
    postgresCpuMsPerJob: postgresMsBetween(machine0, machine1) / jobs,
    redisCpuMsPerJob: 0,
    machineCpuMsPerJob: (machine1.busyMs - machine0.busyMs) / jobs,
  };
}
