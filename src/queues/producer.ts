import { Job, JobsOptions, Queue } from 'bullmq';
import type { InferType } from 'yup';
import { validate } from '../validation';
import { redisOptions } from './connection';
import { JOBS, QueueName } from './registry';

export type PayloadOf<Q extends QueueName> = InferType<(typeof JOBS)[Q]['schema']>;

export interface EnqueueOptions extends Omit<JobsOptions, 'repeat'> {
  /** Sets the payload's idempotencyKey: deliveries with the same key have one effect. */
  idempotencyKey?: string;
}

/**
 * Defaults for every enqueued job: preconditions that arrive early (no run yet, usage not yet
 * invoiced) and transient faults are retried with exponential backoff for about two minutes.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { count: 10000 },
  removeOnFail: { count: 50000 },
};

/**
 * The typed producer client for upstream services: one method per job kind, payload types from the
 * worker's own yup schemas, validated before anything reaches Redis.
 */
export class FlatFeeQueues {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(private readonly options: { redisUrl?: string; prefix?: string; defaultJobOptions?: JobsOptions } = {}) {}

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: redisOptions(this.options.redisUrl ?? 'redis://127.0.0.1:6379', 'producer'),
        prefix: this.options.prefix ?? 'bull',
        defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...this.options.defaultJobOptions },
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Validates locally (a bad payload never reaches the queue) and enqueues. */
  async enqueue<Q extends QueueName>(name: Q, payload: PayloadOf<Q>, options: EnqueueOptions = {}): Promise<Job> {
    const { idempotencyKey, ...jobOptions } = options;
    const data = idempotencyKey === undefined ? payload : { ...payload, idempotencyKey };
    validate(JOBS[name].schema, data);
    return this.queue(name).add(name, data, jobOptions);
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
  deleteCharge(p: PayloadOf<'delete-charge'>, o?: EnqueueOptions) {
    return this.enqueue('delete-charge', p, o);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
