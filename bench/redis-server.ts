import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import IORedis from 'ioredis';

/**
 * A private redis-server for the benchmark: other developers' tests on the shared Redis would skew
 * the figures, and its INFO commandstats then counts this benchmark's calls only. noeviction, no
 * persistence (the shared one keeps nothing on disk either).
 */
export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
  /** Lua scripts run (BullMQ's unit of work: one round trip each) and every command executed, inside scripts included. */
  commandCalls(): Promise<{ scripts: number; executed: number }>;
  commandBreakdown(): Promise<Record<string, number>>;
  resetStats(): Promise<void>;
  /** CPU time the server used since it started, in ms. */
  cpuMs(): Promise<number>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The server takes a moment to listen: retry the first connection for up to 5 s. */
async function connectWhenUp(url: string): Promise<IORedis> {
  for (let attempt = 0; ; attempt++) {
    const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return client;
    } catch (err) {
      client.disconnect();
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffw-bench-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const client = await connectWhenUp(url);
  return {
    url,
    async commandCalls() {
      // Redis 7 counts the commands a script runs in commandstats too, so both figures are given.
      const calls = [...(await client.info('commandstats')).matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)].filter(([, cmd]) => !/^(info|config)/.test(cmd));
      const executed = calls.reduce((s, [, , n]) => s + Number(n), 0);
      const scripts = calls.filter(([, cmd]) => cmd === 'evalsha' || cmd === 'eval').reduce((s, [, , n]) => s + Number(n), 0);
      return { scripts, executed };
    },
    async commandBreakdown() {
      const info = await client.info('commandstats');
      return Object.fromEntries([...info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)].map(([, cmd, n]) => [cmd, Number(n)]));
    },
    async cpuMs() {
      const info = await client.info('cpu');
      const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return (seconds('used_cpu_sys') + seconds('used_cpu_user')) * 1000;
    },
    async resetStats() {
      await client.config('RESETSTAT');
    },
    async stop() {
      client.disconnect();
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
