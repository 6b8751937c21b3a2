import type { Queue } from 'bullmq';
import { registryText } from '../observability/metrics';

/**
 * Prometheus text: the process registry (the worker's flatfee_* metrics when workers run in this
 * process, and process metrics) followed by BullMQ's gauges for every queue. BullMQ writes HELP/TYPE
 * headers per queue; repeating them for the same metric makes the exposition invalid, so each header
 * is kept once and the samples grouped under it.
 */
export async function prometheusMetrics(queues: readonly Queue[]): Promise<string> {
  const [ours, ...texts] = await Promise.all([registryText(), ...queues.map((q) => q.exportPrometheusMetrics())]);
  const families = new Map<string, { headers: string[]; samples: string[] }>();
  let current: { headers: string[]; samples: string[] } | undefined;
  for (const line of texts.join('\n').split('\n')) {
    const header = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (header) {
      current = families.get(header[2]) ?? { headers: [], samples: [] };
      families.set(header[2], current);
      if (!current.headers.some((h) => h.startsWith(`# ${header[1]} `))) current.headers.push(line);
    } else if (line.trim() && current) {
      current.samples.push(line);
    }
  }
  const bullmq = [...families.values()].map((f) => [...f.headers, ...f.samples].join('\n')).join('\n') + '\n';
  return ours.trim() ? `${ours.trimEnd()}\n\n${bullmq}` : bullmq;
}
