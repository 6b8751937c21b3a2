import type { Job, RedisQueueBackend } from 'bullmq';

interface PendingLine {
  job: Job;
  line: string;
  sent: () => void;
}

/** A line that could not be written (the job is gone, Redis refused): the writer's caller logs it. */
export type JobLogFailure = (job: Job, line: string, err: unknown) => void;

/**
 * Appends lines to jobs' logs (what Bull Board shows under a job) with BullMQ's own addLog script, as
 * job.log does, but pipelined: one Redis round trip per queue for all the lines written in the same
 * turn of the event loop (a batch's jobs finish together) instead of one per line.
 *
 * write() resolves once the line is queued on the worker's own connection, not when Redis answers:
 * Redis runs one connection's commands in order, so the line still lands before the job's
 * completion, which BullMQ sends on that connection afterwards, and a job no longer waits a round
 * trip for its log. A failure is reported to `onFailure` instead.
 */
export class JobLogWriter {
  private readonly backends = new Map<string, RedisQueueBackend>();
  private pending = new Map<string, PendingLine[]>();
  private scheduled = false;

  constructor(private readonly onFailure: JobLogFailure) {}

  /** The backend (connection and scripts) of the worker that runs `queueName`. */
  attach(queueName: string, backend: RedisQueueBackend): void {
    this.backends.set(queueName, backend);
  }

  write(job: Job, line: string): Promise<void> {
    if (!this.backends.has(job.queueName) || job.id === undefined) {
      return job.log(line).then(
        () => undefined,
        (err: unknown) => this.onFailure(job, line, err),
      );
    }
    return new Promise<void>((sent) => {
      const lines = this.pending.get(job.queueName) ?? [];
      lines.push({ job, line, sent });
      this.pending.set(job.queueName, lines);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const [queueName, lines] of pending) void this.send(this.backends.get(queueName)!, lines);
  }

  private async send(backend: RedisQueueBackend, lines: PendingLine[]): Promise<void> {
    let replies: Promise<Array<[Error | null, unknown]> | null>;
    try {
      const pipeline = (await backend.client).pipeline();
      for (const { job, line } of lines) {
        const jobKey = backend.toKey(job.id!);
        backend.execCommand(pipeline, 'addLog', [jobKey, `${jobKey}:logs`, job.id!, line, job.opts.keepLogs ?? '']);
      }
      // exec() writes the whole pipeline to the connection before it returns.
      replies = pipeline.exec();
    } catch (err) {
      for (const l of lines) this.fail(l, err);
      return;
    }
    for (const l of lines) l.sent();
    try {
      const answered = (await replies) ?? [];
      lines.forEach((l, i) => {
        const [err, count] = answered[i] ?? [new Error('no reply'), null];
        if (err) this.fail(l, err);
        else if (typeof count === 'number' && count < 0) this.fail(l, new Error(`job ${l.job.id} is missing (addLog ${count})`));
      });
    } catch (err) {
      for (const l of lines) this.onFailure(l.job, l.line, err);
    }
  }

  private fail(l: PendingLine, err: unknown): void {
    l.sent();
    this.onFailure(l.job, l.line, err);
  }
}
