import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { ProducePlan } from './producer-child';

export interface WorkerStats {
  rss: number;
  peakRss: number;
  queries: number;
  commits: number;
  cpuMs: number;
}

export interface WorkerProcess {
  stats(): Promise<WorkerStats>;
  stop(): Promise<void>;
}

function reply<T>(child: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Record<string, unknown>) => {
      if (key in msg) {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(msg[key] as T);
      }
    };
    const onExit = (code: number) => reject(new Error(`${path.basename(String(child.spawnargs.at(-2)))} exited with ${code} before "${key}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function forkTs(file: string, args: string[], env: NodeJS.ProcessEnv, profile = false): ChildProcess {
  // BENCH_CPU_PROF=<dir> writes a .cpuprofile of each worker process there (open it in Chrome DevTools).
  const prof = profile && process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  return fork(path.join(__dirname, file), args, { execArgv: ['--import', 'tsx', ...prof], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

export interface WorkerSpec {
  mode: 'flatfee' | 'noop';
  queues: string[];
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  concurrency: number;
  batchSize: number;
  partitions: number;
  keepCompleted: number;
}

export async function startWorkerProcess(spec: WorkerSpec): Promise<WorkerProcess> {
  const child = forkTs('worker-child.ts', [spec.mode, spec.queues.join(',')], {
    DATABASE_URL: spec.databaseUrl,
    REDIS_URL: spec.redisUrl,
    QUEUE_PREFIX: spec.prefix,
    ...(spec.concurrency > 0 ? { WORKER_CONCURRENCY: String(spec.concurrency) } : {}),
    BATCH_SIZE: String(spec.batchSize),
    BATCH_PARTITIONS: String(spec.partitions),
    KEEP_COMPLETED_JOBS: String(spec.keepCompleted),
    KEEP_FAILED_JOBS: String(spec.keepCompleted),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  }, true);
  await reply(child, 'ready');
  return {
    stats() {
      const answer = reply<WorkerStats>(child, 'stats');
      child.send({ cmd: 'stats' });
      return answer;
    },
    async stop() {
      const answer = reply(child, 'stopped');
      child.send({ cmd: 'stop' });
      await answer;
    },
  };
}

/**
 * Runs the producer process for one plan; resolves with its first-enqueue and done times. `ready`
 * runs once the producer has started and connected, just before it enqueues the first job (where a
 * measured window opens). With plan.warmupJobs, `warmedUp` runs (and is awaited before the result)
 * once those are enqueued.
 */
export async function produce(plan: ProducePlan, keepCompleted: number, hooks: { ready?: () => Promise<void>; warmedUp?: () => Promise<void> } = {}): Promise<{ firstEnqueueAt: number; doneAt: number }> {
  const child = forkTs('producer-child.ts', [], { KEEP_COMPLETED_JOBS: String(keepCompleted), KEEP_FAILED_JOBS: String(keepCompleted) });
  const started = reply(child, 'ready');
  child.send({ plan });
  await started;
  await hooks.ready?.();
  const warmedUp = hooks.warmedUp;
  const mark = plan.warmupJobs && warmedUp ? reply<number>(child, 'warmedUp').then(warmedUp) : Promise.resolve();
  const timing = reply<{ firstEnqueueAt: number; doneAt: number }>(child, 'timing');
  child.send({ go: true });
  const [done] = await Promise.all([timing, mark]);
  return done;
}
