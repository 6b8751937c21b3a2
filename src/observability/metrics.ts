import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { collectDefaultMetrics, Counter, Histogram, register } from 'prom-client';
import { config } from '../config';

/**
 * The worker's Prometheus metrics, in prom-client's standard registry (served on the board's
 * /metrics, SPEC §6). Label values are bounded: queue names, outcomes and error codes, never a
 * charge id, namespace or customer. METRICS_ENABLED=false turns every call here into a no-op (the
 * bench compares both).
 */

export type Outcome = 'applied' | 'replayed' | 'rejected';

/** A rejection whose error carries no code (a bug, a crash of a dependency): one bounded value. */
export const UNCODED = 'internal_error';

// Seconds. Duration: a job's time in the worker (ms when idle, seconds under load or faults).
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Enqueue → commit includes queueing and backoff: the 1 s alert threshold is a bucket boundary.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

function createMetrics() {
  return {
    duration: new Histogram({ name: 'flatfee_job_duration_seconds', help: 'Time a delivery spent in the worker, by final outcome', labelNames: ['queue', 'outcome'] as const, buckets: DURATION_BUCKETS }),
    latency: new Histogram({ name: 'flatfee_job_latency_seconds', help: 'From enqueue (or the end of a requested delay) to the committed outcome', labelNames: ['queue'] as const, buckets: LATENCY_BUCKETS }),
    jobs: new Counter({ name: 'flatfee_jobs_total', help: 'Deliveries by final outcome; code only for rejections', labelNames: ['queue', 'outcome', 'code'] as const }),
    retries: new Counter({ name: 'flatfee_job_retries_total', help: 'Deliveries that failed with a retried code and go back to backoff', labelNames: ['queue', 'code'] as const }),
    batchSize: new Histogram({ name: 'flatfee_batch_size', help: 'Jobs per committed engine transaction', labelNames: ['queue'] as const, buckets: BATCH_BUCKETS }),
    commits: new Counter({ name: 'flatfee_batch_commits_total', help: 'Engine transactions committed', labelNames: ['queue'] as const }),
  };
}

let metrics: ReturnType<typeof createMetrics> | null | undefined;

/** Created on first use, once per process (prom-client refuses a second metric of one name). */
function ours(): ReturnType<typeof createMetrics> | null {
  if (metrics === undefined) metrics = config().metricsEnabled ? createMetrics() : null;
  return metrics;
}

export function metricsEnabled(): boolean {
  return ours() !== null;
}

export interface Delivery {
  queue: string;
  outcome: Outcome;
  /** The error code of a rejection; ignored for applied and replayed. */
  code?: string | null;
  durationSec: number;
  latencySec: number;
}

/** One delivery that reached its final outcome: counted once, timed in both histograms. */
export function recordDelivery(d: Delivery): void {
  const m = ours();
  if (!m) return;
  const labels = d.outcome === 'rejected' ? { queue: d.queue, outcome: d.outcome, code: d.code ?? UNCODED } : { queue: d.queue, outcome: d.outcome };
  m.jobs.inc(labels);
  m.duration.observe({ queue: d.queue, outcome: d.outcome }, d.durationSec);
  m.latency.observe({ queue: d.queue }, Math.max(0, d.latencySec));
}

/** A delivery that failed with a retried code (SPEC §3) or a fault, and will be delivered again. */
export function recordRetry(queue: string, code: string | null): void {
  ours()?.retries.inc({ queue, code: code ?? UNCODED });
}

/** One engine transaction of `size` jobs committed. */
export function observeBatch(queue: string, size: number): void {
  const m = ours();
  if (!m) return;
  m.batchSize.observe({ queue }, size);
  m.commits.inc({ queue });
}

const DELAY_MARK = 'delayedUntil'; // worker.ts: set when a job asked to wait until a due time

/**
 * When the job was due: its creation, or later when the producer delayed it or the job itself
 * asked to wait (activate-charge before invoiceAt). A requested wait is not latency; backoff is.
 */
export function dueAt(job: Job): number {
  const progress = job.progress as Record<string, unknown> | number | null;
  const mark = typeof progress === 'object' && progress !== null ? progress[DELAY_MARK] : undefined;
  const resumedAt = typeof mark === 'string' ? Date.parse(mark) : NaN;
  const due = job.timestamp + (job.opts.delay ?? 0);
  return Number.isNaN(resumedAt) ? due : Math.max(due, resumedAt);
}

/** `started` is a performance.now() reading. */
const secondsSince = (started: number) => (performance.now() - started) / 1000;

/** The worker's edge: a delivery whose result is committed (applied, or a replay of a stored one). */
export function observeCompleted(job: Job, started: number, replayed: unknown): void {
  recordDelivery({ queue: job.queueName, outcome: replayed === true ? 'replayed' : 'applied', durationSec: secondsSince(started), latencySec: (Date.now() - dueAt(job)) / 1000 });
}

/**
 * The worker's edge: a failed delivery. `thrown` is what BullMQ receives: a delay is no outcome yet,
 * a retried failure with attempts left is a retry, anything else is the job's final rejection.
 */
export function observeFailed(job: Job, started: number, code: string | null, thrown: Error): void {
  if (thrown instanceof DelayedError) return;
  const final = thrown instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (!final) return recordRetry(job.queueName, code);
  recordDelivery({ queue: job.queueName, outcome: 'rejected', code, durationSec: secondsSince(started), latencySec: (Date.now() - dueAt(job)) / 1000 });
}

let processMetrics = false;

/** Node's process metrics (CPU, memory, event loop lag, GC) with the flatfee_ prefix, once per process. */
export function enableProcessMetrics(): void {
  if (processMetrics || !metricsEnabled()) return;
  processMetrics = true;
  collectDefaultMetrics({ prefix: 'flatfee_' });
}

/** The standard registry's exposition text (ours, the pool and Redis gauges, process metrics). */
export function registryText(): Promise<string> {
  return register.metrics();
}

/** Tests: every counter and histogram back to zero (the registry is process-wide). */
export function resetMetrics(): void {
  register.resetMetrics();
}
