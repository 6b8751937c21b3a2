/**
 * Fault injection for crash tests (RELIABILITY §3): with FLATFEE_FAULT=<point>[:<queue>], the worker
 * announces the point on stdout as `FLATFEE_FAULT <point> <jobId>` (and over IPC when it has a
 * channel) and then waits forever, so the test can SIGKILL it exactly there. Unset in production.
 */
import { faultSpecFrom } from '../config';

export type FaultPoint = 'before_commit' | 'after_commit' | 'after_batch';

const spec = faultSpecFrom();

/** Whether a fault point is armed at all: without one, a batch need not visit the points job by job. */
export const faultsArmed = spec !== '';

export async function faultPoint(point: FaultPoint, queue: string, jobId: string | null): Promise<void> {
  if (!faultsArmed) return;
  const [wanted, onlyQueue] = spec.split(':');
  if (wanted !== point || (onlyQueue && onlyQueue !== queue)) return;
  process.stdout.write(`FLATFEE_FAULT ${point} ${jobId}\n`);
  process.send?.({ fault: point, queue, jobId });
  await new Promise(() => {});
}
