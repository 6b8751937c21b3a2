import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import IORedis from 'ioredis';
import { withTimeout } from './worker-process';

// A redis-server of our own on a free port: the shared one on 6379 must never be restarted, and
// memory figures must not include other tests' keys.

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrivateRedisOptions {
  /** AOF with fsync on every write, so a SIGKILLed server comes back with every job. */
  durable?: boolean;
}

export class PrivateRedis {
  private process: ChildProcess | null = null;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'ffw-redis-'));

  private constructor(readonly port: number, private readonly options: PrivateRedisOptions) {}

  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options);
    await redis.spawn();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async spawn(): Promise<void> {
    const persistence = this.options.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    this.process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, '--maxmemory-policy', 'noeviction', ...persistence],
      { stdio: 'ignore' },
    );
    await withTimeout(this.waitForPing(), 10000, `redis-server on ${this.port} did not answer`);
  }

  private async waitForPing(): Promise<void> {
    for (;;) {
      const client = new IORedis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        client.disconnect();
      }
    }
  }

  /** SIGKILL: no shutdown save, connections dropped at once. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.process = null;
  }

  /** Starts again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async usedMemoryBytes(): Promise<number> {
    const client = new IORedis(this.url);
    try {
      const info = await client.info('memory');
      return Number(/used_memory:(\d+)/.exec(info)![1]);
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
