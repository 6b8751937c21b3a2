import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, round } from './stats';

export interface Row {
  scenario: string;
  /** One figure per run; the table shows the median. */
  rates: number[];
  p50?: number[];
  p95?: number[];
  p99?: number[];
  extra?: Record<string, number[]>;
  note?: string;
}

export interface Report {
  startedAt: string;
  /** loadavg: 1-minute load at the start and the end; other work on the machine skews absolute figures, not much the ratios. */
  machine: { cpus: number; cpuModel: string; memGb: number; node: string; loadavg: number[] };
  options: unknown;
  baselines: { ceilingSql: number; bullmqNoop: number };
  rows: Array<Row & { median: number; xCeilingSql: number; xBullmqNoop: number }>;
  rss?: { jobs: number[]; peakRssMb: number[]; growth: number };
}

// A figure a row does not have (NaN: the reference rows report no p95, pgbench no worker) stays blank.
const cell = (values: number[] | undefined, digits = 0) => {
  const finite = (values ?? []).filter(Number.isFinite);
  return finite.length ? String(round(median(finite), digits)) : '';
};

export function buildReport(options: unknown, rows: Row[], rss: Report['rss'] | undefined, startLoad: number): Report {
  const ceiling = median(rows.find((r) => r.scenario === 'ceiling-sql')?.rates ?? []);
  const noop = median(rows.find((r) => r.scenario === 'bullmq-noop')?.rates ?? []);
  const cpus = os.cpus();
  return {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? '', memGb: round(os.totalmem() / 2 ** 30, 1), node: process.version, loadavg: [round(startLoad, 1), round(os.loadavg()[0], 1)] },
    options,
    baselines: { ceilingSql: ceiling, bullmqNoop: noop },
    rows: rows.map((r) => ({ ...r, median: median(r.rates), xCeilingSql: round(median(r.rates) / ceiling, 2), xBullmqNoop: round(median(r.rates) / noop, 2) })),
    rss,
  };
}

export function printReport(report: Report): void {
  const header = ['scenario', 'jobs/s (median)', '× ceiling-sql', '× bullmq-noop', 'p50 ms', 'p95 ms', 'p99 ms', 'queries/job', 'commits/job', 'redis scripts/job', 'redis cmds/job', 'worker cpu ms/job', 'pg cpu ms/job', 'redis cpu ms/job', 'machine cpu ms/job', 'runs'];
  const lines = report.rows.map((r) => [
    r.scenario,
    String(round(r.median)),
    Number.isFinite(r.xCeilingSql) ? r.xCeilingSql.toFixed(2) : '',
    Number.isFinite(r.xBullmqNoop) ? r.xBullmqNoop.toFixed(2) : '',
    cell(r.p50, 1),
    cell(r.p95, 1),
    cell(r.p99, 1),
    cell(r.extra?.queriesPerJob, 2),
    cell(r.extra?.commitsPerJob, 3),
    cell(r.extra?.redisScriptsPerJob, 2),
    cell(r.extra?.redisCommandsPerJob, 1),
    cell(r.extra?.workerCpuMsPerJob, 3),
    cell(r.extra?.postgresCpuMsPerJob, 3),
    cell(r.extra?.redisCpuMsPerJob, 3),
    cell(r.extra?.machineCpuMsPerJob, 3),
    r.rates.map((x) => round(x)).join(' / '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)];
  out.push('', `load average (1 min) ${report.machine.loadavg.join(' at start, ')} at end on ${report.machine.cpus} cpus: absolute figures move with it, ratios much less`);
  if (report.rss) {
    const [a, b] = report.rss.peakRssMb;
    out.push('', `worker peak RSS: ${a} MB after ${report.rss.jobs[0]} jobs, ${b} MB after ${report.rss.jobs[1]} jobs (growth ${(report.rss.growth * 100).toFixed(1)} %)`);
  }
  for (const r of report.rows.filter((x) => x.note)) out.push(`${r.scenario}: ${r.note}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

export function writeReport(report: Report, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
