import type { Job, RedisQueueBackend } from 'bullmq';

interface PendingLine {
  job: Job;
  line: string;
  sent: () => void;
}

/** A line that could not be written (the job is gone, Redis refused): the writer's caller logs it. */
export type JobLogFailure = (job: Job, line: string, err: unknown) => void;

/**
 * BullMQ's addLog rule (the job must still exist; keepLogs keeps the last lines) for many lines in one
 * script call: KEYS are each line's job key and logs key in pairs, ARGV each line and its keepLogs
 * ('' for none). One reply per line: the job's log length, or -1 for a job that is gone.
 */
const ADD_LOGS_LUA = `
local counts = {}
for i = 1, #KEYS, 2 do
  local count = -1
  if redis.call('EXISTS', KEYS[i]) == 1 then
    count = redis.call('RPUSH', KEYS[i + 1], ARGV[i])
    if ARGV[i + 1] ~= '' then
      local keep = tonumber(ARGV[i + 1])
      redis.call('LTRIM', KEYS[i + 1], -keep, -1)
      count = math.min(keep, count)
    end
  end
  counts[#counts + 1] = count
end
return counts`;

const ADD_LOGS = 'flatfeeAddJobLogs';

/** The Redis client under a worker's backend, as far as this module uses it (ioredis). */
interface LogClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  [ADD_LOGS]?: (numberOfKeys: number, ...keysThenArgs: string[]) => Promise<number[]>;
}

/**
 * Appends lines to jobs' logs (what Bull Board shows under a job; the same list job.log appends to),
 * all the lines written in the same turn of the event loop (a batch's jobs finish together) in one
 * script call per queue. A script call per line, as job.log makes, cost the worker about 16 µs of CPU
 * a line whether pipelined or not, and Redis a script run each.
 *
 * write() resolves once the lines are queued on the worker's own connection, not when Redis answers:
 * Redis runs one connection's commands in order, so a line still lands before its job's completion,
 * which BullMQ sends on that connection afterwards, and a job no longer waits a round trip for its
 * log. A failure is reported to `onFailure` instead.
 */
export class JobLogWriter {
  private readonly backends = new Map<string, RedisQueueBackend>();
  private pending = new Map<string, PendingLine[]>();
  private scheduled = false;

  constructor(private readonly onFailure: JobLogFailure) {}

  /** The backend (connection and key names) of the worker that runs `queueName`. */
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
    let replies: Promise<number[]>;
    try {
      const client = (await backend.client) as unknown as LogClient;
      if (!client[ADD_LOGS]) client.defineCommand(ADD_LOGS, { lua: ADD_LOGS_LUA });
      const keys: string[] = [];
      const args: string[] = [];
      for (const { job, line } of lines) {
        const jobKey = backend.toKey(job.id!);
        keys.push(jobKey, `${jobKey}:logs`);
        args.push(line, job.opts.keepLogs === undefined ? '' : String(job.opts.keepLogs));
      }
      // The command is written to the connection before the call returns (or queued in order while it reconnects).
      replies = client[ADD_LOGS]!(keys.length, ...keys, ...args);
    } catch (err) {
      for (const l of lines) this.fail(l, err);
      return;
    }
    for (const l of lines) l.sent();
    try {
      const counts = await replies;
      lines.forEach((l, i) => {
        const count = counts[i];
        if (typeof count !== 'number') this.onFailure(l.job, l.line, new Error('no reply'));
        else if (count < 0) this.onFailure(l.job, l.line, new Error(`job ${l.job.id} is missing (addLog ${count})`));
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
