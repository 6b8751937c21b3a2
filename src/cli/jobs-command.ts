import { Job, JobType, Queue } from 'bullmq';
import { CommanderError } from 'commander';
import { App } from '../app';
import { redisOptions } from '../queues/connection';
import { addressOf, pingRedis, withRedisDeadline } from '../queues/unavailable';
import { errorCodeOfReason } from '../queues/producer';
import { ellipsis, table } from './render';

export const LISTED_STATES = ['active', 'waiting', 'delayed', 'failed', 'completed'] as const;

function openQueue(app: App, name: string): Queue {
  return new Queue(name, { connection: redisOptions(app.config.redisUrl, 'producer'), prefix: app.config.queuePrefix });
}

/** One queue for a one-shot: Redis down is one line within seconds (SPEC §5), never a hang. */
async function withQueue<T>(app: App, name: string, work: (queue: Queue) => Promise<T>): Promise<T> {
  const queue = openQueue(app, name);
  let last: Error | undefined;
  queue.on('error', (err: Error) => (last = err));
  try {
    // A refused connection fails at once, not after the deadline.
    await pingRedis(app.config.redisUrl);
    return await withRedisDeadline(addressOf(app.config.redisUrl), 5000, () => work(queue), () => last);
  } finally {
    await queue.close().catch(() => undefined);
    await app.close();
  }
}

export interface ListedJob {
  id: string;
  state: string;
  attemptsMade: number;
  chargeId: string | null;
  errorCode: string | null;
  failedReason: string | null;
  returnvalue: unknown;
  createdAt: string;
  finishedAt: string | null;
}

/** A failed job, or one waiting for its next attempt after a failure: its last code and message. */
function lastFailure(job: Job, state: string): string | null {
  if (state === 'completed') return null;
  return state === 'failed' || job.attemptsMade > 0 ? job.failedReason || null : null;
}

export function listed(job: Job, state: string): ListedJob {
  const data = (job.data ?? {}) as { chargeId?: unknown; id?: unknown };
  const chargeId = data.chargeId ?? data.id ?? (job.returnvalue as { chargeId?: unknown } | undefined)?.chargeId;
  return {
    id: String(job.id),
    state,
    attemptsMade: job.attemptsMade,
    chargeId: typeof chargeId === 'string' ? chargeId : null,
    errorCode: errorCodeOfReason(lastFailure(job, state)),
    failedReason: lastFailure(job, state),
    returnvalue: job.returnvalue ?? null,
    createdAt: new Date(job.timestamp).toISOString(),
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

/** The newest jobs of the given states, newest first. */
export async function listJobs(queue: Queue, states: readonly JobType[], limit: number): Promise<ListedJob[]> {
  const perState = await Promise.all(
    states.map(async (state) => (await queue.getJobs([state], 0, limit - 1, false)).map((job) => listed(job as Job, state))),
  );
  return perState
    .flat()
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
    .slice(0, limit);
}

export function renderJobs(jobs: ListedJob[]): string {
  if (jobs.length === 0) return 'no jobs\n';
  return table([
    ['job id', 'state', 'attempts', 'charge', 'created', 'error code', 'reason'],
    ...jobs.map((j) => [j.id, j.state, String(j.attemptsMade), j.chargeId ?? '-', j.createdAt, j.errorCode ?? '', ellipsis(j.failedReason ?? '', 100)]),
  ]);
}

export async function runJobs(app: App, queueName: string, opts: { failed?: boolean; limit: number; json?: boolean }): Promise<void> {
  const jobs = await withQueue(app, queueName, (queue) => listJobs(queue, opts.failed ? ['failed'] : LISTED_STATES, opts.limit));
  process.stdout.write(opts.json ? `${JSON.stringify(jobs, null, 2)}\n` : renderJobs(jobs));
}

/** Puts a failed job back in the queue with its attempts reset, as if it had just been enqueued. */
export async function retryFailedJob(queue: Queue, jobId: string): Promise<void> {
  const job = await queue.getJob(jobId);
  if (!job) throw new CommanderError(1, 'flatfee.job_not_found', `job not found [queue=${queue.name} job_id=${jobId}]`);
  const state = await job.getState();
  if (state !== 'failed') {
    throw new CommanderError(1, 'flatfee.job_not_failed', `job ${jobId} on ${queue.name} is ${state}; only failed jobs can be retried`);
  }
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
}

export async function runRetry(app: App, queueName: string, jobId: string): Promise<void> {
  await withQueue(app, queueName, (queue) => retryFailedJob(queue, jobId));
  process.stdout.write(`retried ${jobId} (queue ${queueName})\n`);
}
