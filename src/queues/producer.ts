import { ConnectionOptions, Job, JobsOptions, Queue, Telemetry } from 'bullmq';
import type { InferType } from 'yup';
import { validate } from '../validation';
import { redisOptions } from './connection';
import { JOBS, QueueName } from './registry';
import { RETENTION } from './worker';
import { activeTelemetry } from '../observability/tracing';
import { addressOf, withRedisDeadline } from './unavailable';

/** A job kind's payload, inferred from the same yup schema the worker validates with. */
export type PayloadOf<Q extends QueueName> = InferType<(typeof JOBS)[Q]['schema']>;

export interface EnqueueOptions extends Omit<JobsOptions, 'repeat'> {
  /** Sets the payload's idempotencyKey: deliveries with the same key have one effect. */
  idempotencyKey?: string;
}

export interface FlatFeeQueuesOptions {
  /** Default redis://127.0.0.1:6379; ignored when `connection` is given. */
  redisUrl?: string;
  /** Your own ioredis options or instance, for TLS, Sentinel or Cluster setups. */
  connection?: ConnectionOptions;
  /** Must equal the workers' QUEUE_PREFIX (default `bull`); use a hash tag such as `{flatfee}` on Redis Cluster. */
  prefix?: string;
  defaultJobOptions?: JobsOptions;
  /**
   * BullMQ telemetry (e.g. `new BullMQOtel({ tracerName: 'billing' })` from bullmq-otel) so each add
   * is a span whose context travels in the job to the worker's trace. Default: this process's
   * tracing when it is on (observability/tracing.ts), else none.
   */
  telemetry?: Telemetry;
  /**
   * How long one call may wait for Redis (default 5000 ms). Past it, or on a refused connection, the
   * call throws ServiceUnavailableError (code service_unavailable) and nothing was enqueued.
   */
  redisTimeoutMs?: number;
}

/** What a caller can read back about a job (results are kept per SPEC §3 retention). */
export interface JobOutcome {
  state: string;
  result: Record<string, unknown> | null;
  failedReason: string | null;
  /** The snake_case code a failedReason starts with (SPEC §3), when there is one. */
  errorCode: string | null;
}

/**
 * Defaults for every enqueued job: preconditions that arrive early (no run yet, usage not yet
 * invoiced) and transient faults are retried with exponential backoff, 0.5 s doubling to 32 s
 * (about a minute in all); finished jobs kept as the workers keep them.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  ...RETENTION,
};

/** A failedReason starts with its code (SPEC §3); anything else (a stall, a crash) has none. */
export function errorCodeOfReason(reason: string | undefined | null): string | null {
  const match = /^([a-z][a-z0-9_]*): /.exec(reason ?? '');
  return match ? match[1] : null;
}

function withKey<T extends object>(payload: T, idempotencyKey: string | undefined): T {
  if (idempotencyKey === undefined) return payload;
  const existing = (payload as { idempotencyKey?: unknown }).idempotencyKey;
  if (existing !== undefined && existing !== idempotencyKey) {
    throw new Error(`idempotency key given twice with different values ("${String(existing)}" in the payload, "${idempotencyKey}" in the options)`);
  }
  return { ...payload, idempotencyKey };
}

/**
 * The typed producer client for upstream services: one method per job kind, payload types from the
 * worker's own yup schemas, validated before anything reaches Redis, so nobody builds raw BullMQ
 * jobs by hand. A bad payload throws ValidationError (code validation_failed) listing every field.
 */
export class FlatFeeQueues {
  private readonly queues = new Map<QueueName, Queue>();
  private lastRedisError: Error | undefined;

  constructor(private readonly options: FlatFeeQueuesOptions = {}) {}

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.options.connection ?? redisOptions(this.options.redisUrl ?? 'redis://127.0.0.1:6379', 'producer'),
        prefix: this.options.prefix ?? 'bull',
        defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...this.options.defaultJobOptions },
        telemetry: this.options.telemetry ?? activeTelemetry(),
      });
      // Connection errors are reported once, by the call that meets them, not as stacks on stderr.
      queue.on('error', (err: Error) => (this.lastRedisError = err));
      this.queues.set(name, queue);
    }
    return queue;
  }

  private get redisAddress(): string {
    return this.options.connection ? 'the configured connection' : addressOf(this.options.redisUrl ?? 'redis://127.0.0.1:6379');
  }

  /**
   * One Redis call with a deadline. A call that timed out may still be waiting for a connection: its
   * queue is closed (and opened again by the next call), so the job can never be added behind the
   * caller's back after the caller was told it failed.
   */
  private async redis<T>(name: QueueName, work: (queue: Queue) => Promise<T>): Promise<T> {
    const queue = this.queue(name);
    try {
      return await withRedisDeadline(this.redisAddress, this.options.redisTimeoutMs ?? 5000, () => work(queue), () => this.lastRedisError);
    } catch (err) {
      if ((err as { code?: string }).code === 'service_unavailable') {
        this.queues.delete(name);
        void queue.close().catch(() => undefined);
      }
      throw err;
    }
  }

  /** Validates locally (a bad payload never reaches the queue) and enqueues. */
  async enqueue<Q extends QueueName>(name: Q, payload: PayloadOf<Q>, options: EnqueueOptions = {}): Promise<Job> {
    const { idempotencyKey, ...jobOptions } = options;
    const data = withKey(payload as object, idempotencyKey);
    validate(JOBS[name].schema, data);
    return this.redis(name, (queue) => queue.add(name, data, jobOptions));
  }

  createCharge(p: PayloadOf<'create-charge'>, o?: EnqueueOptions) {
    return this.enqueue('create-charge', p, o);
  }
  activateCharge(p: PayloadOf<'activate-charge'>, o?: EnqueueOptions) {
    return this.enqueue('activate-charge', p, o);
  }
  allocateCredit(p: PayloadOf<'allocate-credit'>, o?: EnqueueOptions) {
    return this.enqueue('allocate-credit', p, o);
  }
  createInvoicedUsage(p: PayloadOf<'create-invoiced-usage'>, o?: EnqueueOptions) {
    return this.enqueue('create-invoiced-usage', p, o);
  }
  payment(p: PayloadOf<'payment'>, o?: EnqueueOptions) {
    return this.enqueue('payment', p, o);
  }
  reprorateCharge(p: PayloadOf<'reprorate-charge'>, o?: EnqueueOptions) {
    return this.enqueue('reprorate-charge', p, o);
  }
  deleteCharge(p: PayloadOf<'delete-charge'>, o?: EnqueueOptions) {
    return this.enqueue('delete-charge', p, o);
  }
  migrateLegacyFlatFees(p: PayloadOf<'migrate-legacy-flat-fees'>, o?: EnqueueOptions) {
    return this.enqueue('migrate-legacy-flat-fees', p, o);
  }

  /** A job's state and, once finished, its result or its failure code; null when unknown or removed. */
  async outcome(name: QueueName, jobId: string): Promise<JobOutcome | null> {
    const found = await this.redis(name, async (queue) => {
      const job = await queue.getJob(jobId);
      return job ? { job, state: await job.getState() } : null;
    });
    if (!found) return null;
    const { job, state } = found;
    const failedReason = state === 'failed' ? job.failedReason ?? null : null;
    return { state, result: state === 'completed' ? job.returnvalue ?? null : null, failedReason, errorCode: errorCodeOfReason(failedReason) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
