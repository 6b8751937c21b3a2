import { Command, InvalidArgumentError } from 'commander';

export const SCENARIOS = ['ceiling', 'noop', 'engine', 'allocate', 'contention', 'per-job', 'mixed', 'latency', 'rss', 'reference'] as const;
/** Run when --only is not given: all but the outside reference, which needs packages installed outside the project. */
const DEFAULT_SCENARIOS = SCENARIOS.filter((s) => s !== 'reference');
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  jobs: number;
  runs: number;
  batchSize: number;
  partitions: number;
  workers: number;
  concurrency: number;
  perJobJobs: number;
  mixedCharges: number;
  jobsPerCharge: number;
  latencySeconds: number;
  latencyWarmupSeconds: number;
  rssJobs: [number, number];
  pgbenchSeconds: number;
  only: Scenario[];
  resultsDir: string;
  /** Prometheus metrics in the worker processes (METRICS_ENABLED). */
  metrics: 'on' | 'off';
  /** OpenTelemetry in the worker processes: off, on (spans made and dropped) or otlp (OTEL_* env). */
  tracing: 'off' | 'on' | 'otlp';
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function scenarios(value: string): Scenario[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = list.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) throw new InvalidArgumentError(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
  return list as Scenario[];
}

function oneOf<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${values.join(', ')}`);
    return value as T;
  };
}

function pair(value: string): [number, number] {
  const [a, b] = value.split(',').map(positive);
  if (!a || !b || a >= b) throw new InvalidArgumentError('two increasing job counts, e.g. 20000,200000');
  return [a, b];
}

export function parseArgs(argv: string[]): BenchOptions {
  const program = new Command('npm run bench --')
    .description('Throughput and latency of flatfee-worker, as ratios to this machine’s own limits (bench/README.md)')
    .option('--jobs <n>', 'allocate-credit jobs per end-to-end run', positive, 20000)
    .option('--runs <n>', 'runs per scenario; the table shows medians', positive, 3)
    .option('--batch-size <n>', 'jobs per transaction on the batched path (BATCH_SIZE)', positive, 50)
    .option('--partitions <n>', 'batches per queue in flight at once (BATCH_PARTITIONS)', positive, 2)
    .option('--workers <n>', 'worker processes for the batched allocate rows (scale-out on the same machine)', positive, 1)
    .option('--concurrency <n>', 'jobs in flight per queue (WORKER_CONCURRENCY); 0 keeps the worker default, (partitions + 1) × batch size', (v) => (v === '0' ? 0 : positive(v)), 0)
    .option('--per-job-jobs <n>', 'jobs per run with one job per batch (BATCH_SIZE=1, the slow end)', positive, 5000)
    .option('--mixed-charges <n>', 'charges taken through the whole lifecycle per run', positive, 10000)
    .option('--jobs-per-charge <n>', 'allocations per charge in the contention scenario', positive, 50)
    .option('--latency-seconds <n>', 'duration of the fixed-load latency run (measured)', positive, 10)
    .option('--latency-warmup-seconds <n>', 'the same load first, not measured: a fresh worker process compiles its code and opens its connections', positive, 3)
    .option('--rss-jobs <a,b>', 'job counts at which the worker’s peak RSS is compared', pair, [20000, 200000] as [number, number])
    .option('--pgbench-seconds <n>', 'duration of each pgbench run', positive, 10)
    .option('--only <list>', `scenarios to run (${SCENARIOS.join(',')}); ratios need ceiling and noop`, scenarios, [...DEFAULT_SCENARIOS])
    .option('--results-dir <dir>', 'where the JSON results go', 'bench/results')
    .option('--metrics <on|off>', 'Prometheus metrics in the worker processes (off: METRICS_ENABLED=false)', oneOf(['on', 'off'] as const), 'on')
    .option('--tracing <off|on|otlp>', 'OpenTelemetry in the worker processes: on makes every span and drops it; otlp exports per OTEL_*', oneOf(['off', 'on', 'otlp'] as const), 'off');
  program.parse(argv, { from: 'user' });
  return program.opts<BenchOptions>();
}
