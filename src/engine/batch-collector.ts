import { BatchItem, ItemOutcome } from './batch-item';
import { JobResult } from '../domain/decision';

interface Pending {
  item: BatchItem;
  resolve: (result: JobResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one queue: the first job goes out at once (no added latency when idle); jobs that
 * arrive while a batch is being applied wait and go out together in the next one, up to maxSize.
 * One batch at a time per queue, so jobs of one charge are applied in the order they arrived.
 */
export class BatchCollector {
  private waiting: Pending[] = [];
  private draining = false;

  constructor(
    private readonly maxSize: number,
    private readonly apply: (items: BatchItem[]) => Promise<ItemOutcome[]>,
  ) {}

  submit(item: BatchItem): Promise<JobResult> {
    return new Promise<JobResult>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // One turn of the event loop lets the jobs BullMQ handed over together join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxSize);
      const outcomes = await this.apply(batch.map((p) => p.item)).catch((error: unknown) => batch.map((): ItemOutcome => ({ ok: false, error })));
      batch.forEach((pending, i) => {
        const outcome = outcomes[i];
        if (outcome.ok) pending.resolve(outcome.result);
        else pending.reject(outcome.error);
      });
    }
    this.draining = false;
  }
}
