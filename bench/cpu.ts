import { readdirSync, readFileSync } from 'node:fs';

// Where the machine's CPU went during a stage: the worker reports its own; PostgreSQL is every
// process named "postgres" (its backends live as long as the worker's pool), and the machine's busy
// time from /proc/stat covers the rest (producer, Redis, anything else running). Linux only; elsewhere
// the figures read 0.

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface CpuSample {
  /** CPU time of each live postgres process, by pid. */
  postgresMs: Map<string, number>;
  busyMs: number;
}

function postgresMs(): Map<string, number> {
  const byPid = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return byPid;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      byPid.set(pid, (Number(fields[11]) + Number(fields[12])) * TICK_MS); // utime, stime
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return byPid;
}

/**
 * PostgreSQL's CPU between two samples, process by process: a backend that ended in between (the
 * previous stage's pool closing) takes its whole lifetime's CPU with it, which a difference of two
 * totals read as negative. Such a process's last moments are lost; a new one counts from zero.
 */
export function postgresMsBetween(before: CpuSample, after: CpuSample): number {
  let ms = 0;
  for (const [pid, now] of after.postgresMs) ms += now - Math.min(before.postgresMs.get(pid) ?? 0, now);
  return ms;
}

function busyMs(): number {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = ticks;
    return (user + nice + system + irq + softirq + steal) * TICK_MS;
  } catch {
    return 0;
  }
}

export function sampleCpu(): CpuSample {
  return { postgresMs: postgresMs(), busyMs: busyMs() };
}
