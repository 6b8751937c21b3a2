import type { RedisQueueBackend } from 'bullmq';

/** A worker connection's socket, as far as this module uses it. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Holds a worker connection's writes to Redis until the microtasks of the current turn of the event
 * loop have run, then sends them in one write. The jobs of a batch finish together, and BullMQ sends
 * each job's completion (a moveToFinished script; it has no bulk completion) as a write of its own,
 * each a system call for the worker and a wake-up and a read for Redis. Held, they leave together,
 * in the order BullMQ wrote them: nothing is reordered and nothing waits for a later turn.
 */
export class CompletionWrites {
  private readonly clients = new Map<string, { stream?: Corkable }>();
  private held: Corkable[] = [];

  /** The connection of the worker that runs `queueName` (its completions go on it). */
  attach(queueName: string, backend: RedisQueueBackend): void {
    backend.client.then(
      (client) => this.clients.set(queueName, client as unknown as { stream?: Corkable }),
      () => undefined,
    );
  }

  /** Called as a job's processor returns or throws: what BullMQ writes for it next is held to the end of the turn. */
  hold(queueName: string): void {
    // The current socket: ioredis makes a new one when it reconnects.
    const stream = this.clients.get(queueName)?.stream;
    if (!stream || this.held.includes(stream)) return;
    stream.cork();
    this.held.push(stream);
    // A tick queued from a microtask runs once the microtask queue is empty: after every processor
    // that finished in this turn has had its completion written.
    if (this.held.length === 1) process.nextTick(() => this.release());
  }

  private release(): void {
    const held = this.held;
    this.held = [];
    for (const stream of held) stream.uncork();
  }
}
