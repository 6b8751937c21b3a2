import type { Job, RedisQueueBackend } from 'bullmq';

interface PendingLine {
  jobId: string;
  line: string;
  keepLogs: number | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Appends lines to jobs' logs (what Bull Board shows under a job) with BullMQ's own addLog script, as
 * job.log does, but pipelined: one Redis round trip per queue for all the lines written in the same
 * turn of the event loop (a batch's jobs finish together) instead of one per line.
 */
export class JobLogWriter {
  private readonly backends = new Map<string, RedisQueueBackend>();
  private pending = new Map<string, PendingLine[]>();
  private scheduled = false;

  /** The backend (connection and scripts) of the worker that runs `queueName`. */
  attach(queueName: string, backend: RedisQueueBackend): void {
    this.backends.set(queueName, backend);
  }

  write(job: Job, line: string): Promise<void> {
    if (!this.backends.has(job.queueName) || job.id === undefined) return job.log(line).then(() => undefined);
    const jobId = job.id;
    return new Promise<void>((resolve, reject) => {
      const lines = this.pending.get(job.queueName) ?? [];
      lines.push({ jobId, line, keepLogs: job.opts.keepLogs, resolve, reject });
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
    try {
      const pipeline = (await backend.client).pipeline();
      for (const l of lines) {
        const jobKey = backend.toKey(l.jobId);
        backend.execCommand(pipeline, 'addLog', [jobKey, `${jobKey}:logs`, l.jobId, l.line, l.keepLogs ?? '']);
      }
      const replies = (await pipeline.exec()) ?? [];
      lines.forEach((l, i) => {
        const [err, count] = replies[i] ?? [new Error('no reply'), null];
        if (err) l.reject(err);
        else if (typeof count === 'number' && count < 0) l.reject(new Error(`job ${l.jobId} is missing (addLog ${count})`));
        else l.resolve();
      });
    } catch (err) {
      for (const l of lines) l.reject(err);
    }
  }
}
