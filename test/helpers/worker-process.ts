import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

// Real worker processes (`node bin/flatfee-worker.js worker`) for crash, fault and overload tests:
// only a separate process can be SIGKILLed, lose its connections or show its own RSS.

const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');

export interface WorkerProcessOptions {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  concurrency?: number;
  /** FLATFEE_FAULT=<point>[:<queue>] (src/queues/faults.ts): the process stops there and tells us. */
  fault?: string;
  /** Extra environment, e.g. WORKER_LOCK_DURATION_MS or KEEP_COMPLETED_JOBS. */
  env?: Record<string, string>;
}

export interface FaultReport {
  fault: string;
  queue: string;
  jobId: string;
}

/** Lock and stall settings that let a killed worker's jobs come back within about two seconds. */
export const FAST_STALLS = {
  WORKER_LOCK_DURATION_MS: '1500',
  WORKER_STALLED_INTERVAL_MS: '500',
  WORKER_MAX_STALLED_COUNT: '20',
};

/**
 * The engine at both ends of its batch size: every job alone (BATCH_SIZE=1, a batch of one, with 8
 * partitions so that 8 such transactions run side by side) and group commit (the default 50). The exactly-once reliability tests run against both, so a batch
 * keeps every guarantee a single job has; each mode's env is the whole environment such a test
 * gives its worker. Batched jobs stay active longer (they wait in a collector while the batch
 * before them is applied) and a queue holds up to 150 of them, so on a loaded machine a lock
 * renewal that Redis answers late lets a 1.5 s lock lapse: the job is redelivered and replays (its
 * effect stays single), which the duplicate test counts as a second delivery applied. The batched
 * variant gets 4 s locks (size the lock to the batch).
 */
export const WORKER_MODES = [
  { label: 'one job per batch', env: { ...FAST_STALLS, BATCH_SIZE: '1', BATCH_PARTITIONS: '8', WORKER_CONCURRENCY: '8' } },
  // The worker's default jobs in flight for a batch of 50: (2 partitions + 1) × 50.
  { label: 'batched', env: { ...FAST_STALLS, BATCH_SIZE: '50', WORKER_CONCURRENCY: '150', WORKER_LOCK_DURATION_MS: '4000', WORKER_STALLED_INTERVAL_MS: '1000' } },
] as const;

export class WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly tail: string[] = [];
  private readonly faults: FaultReport[] = [];
  private faultWaiters: Array<(f: FaultReport) => void> = [];
  private started!: Promise<void>;
  private startedLine = '';
  private readonly messages = new Map<string, number>();

  constructor(readonly options: WorkerProcessOptions) {
    this.child = spawn(process.execPath, [BIN, 'worker'], {
      env: {
        ...process.env,
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        QUEUE_PREFIX: options.prefix,
        WORKER_CONCURRENCY: String(options.concurrency ?? 8),
        // info at least: readiness is read from the `worker started` log line
        LOG_LEVEL: 'info',
        FLATFEE_FAULT: options.fault ?? '',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // A worker must not outlive the test process (mocha --exit, a crash): orphans keep consuming
    // their queue prefix and database.
    const reap = () => this.child.kill('SIGKILL');
    process.once('exit', reap);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        process.removeListener('exit', reap);
        resolve({ code, signal });
      }),
    );
    this.child.on('message', (m) => this.onFault(m as FaultReport));
    this.watchOutput();
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** How many log lines of the whole run carried this message (the tail keeps only the last 200 lines). */
  logged(msg: string): number {
    return this.messages.get(msg) ?? 0;
  }

  /** The last log lines, for failure messages. */
  recentLog(): string {
    return this.tail.join('\n');
  }

  private watchOutput(): void {
    let ready: () => void;
    let failed: (err: Error) => void;
    this.started = new Promise((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        if (line.includes('"worker started"')) {
          this.startedLine = line;
          ready();
        }
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
        const msg = /"msg":"([^"]*)"/.exec(line)?.[1];
        if (msg) this.messages.set(msg, (this.messages.get(msg) ?? 0) + 1);
      }
    };
    this.child.stderr!.on('data', keep);
    this.child.stdout!.on('data', keep);
    this.started.catch(() => {}); // observed through ready(); never an unhandled rejection
    void this.exited.then(({ code, signal }) => failed(new Error(`worker exited before starting (code ${code}, signal ${signal})\n${this.recentLog()}`)));
  }

  private onFault(report: FaultReport): void {
    if (!report || typeof report.fault !== 'string') return;
    const waiter = this.faultWaiters.shift();
    if (waiter) waiter(report);
    else this.faults.push(report);
  }

  /**
   * Resolves once every queue's Worker is connected (the `worker started` log line). A process
   * given BATCH_SIZE must report that batch size, so a test of the batched path cannot pass on the
   * per-job one.
   */
  async ready(timeoutMs = 20000): Promise<this> {
    await withTimeout(this.started, timeoutMs, `worker ${this.pid} did not start`);
    const wanted = this.options.env?.BATCH_SIZE;
    const reported = /"batchSize":(\d+)/.exec(this.startedLine)?.[1];
    if (wanted !== undefined && Number(reported) !== Number(wanted)) throw new Error(`worker ${this.pid} started with batchSize ${reported}, not ${wanted}`);
    return this;
  }

  /** The next fault point the process reached (it is hanging there now). */
  nextFault(timeoutMs = 20000): Promise<FaultReport> {
    const queued = this.faults.shift();
    if (queued) return Promise.resolve(queued);
    return withTimeout(new Promise<FaultReport>((resolve) => this.faultWaiters.push(resolve)), timeoutMs, `worker ${this.pid} reached no fault point`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await this.exited;
  }

  /** Graceful stop: SIGTERM lets the worker drain; SIGKILL after the timeout. */
  async stop(timeoutMs = 15000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident set size in MB, read from /proc (Linux). */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
    return kb / 1024;
  }
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const worker = new WorkerProcess(options);
  try {
    return await worker.ready();
  } catch (err) {
    await worker.kill();
    throw err;
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
