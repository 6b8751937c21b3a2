import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import IORedis, { Cluster } from 'ioredis';

// A real Redis Cluster of one node owning all 16384 slots: it enforces CROSSSLOT exactly like a
// multi-node cluster, so it proves the hash-tag prefix and the cluster client on one machine.

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class OneNodeCluster {
  private constructor(readonly port: number, private readonly server: ChildProcess, private readonly dir: string) {}

  static async start(): Promise<OneNodeCluster> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'ffw-cluster-'));
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-announce-ip', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
      { stdio: 'ignore' },
    );
    const cluster = new OneNodeCluster(port, server, dir);
    const admin = new IORedis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => {}); // refused connections while the server boots are expected
    try {
      await until(async () => (await admin.ping()) === 'PONG', 10000, 'redis-server did not answer');
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await until(async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 15000, 'cluster_state did not become ok');
    } catch (err) {
      await cluster.stop();
      throw err;
    } finally {
      admin.disconnect();
    }
    return cluster;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  client(role: 'worker' | 'producer'): Cluster {
    return new Cluster([{ host: '127.0.0.1', port: this.port }], {
      redisOptions: { maxRetriesPerRequest: role === 'worker' ? null : 3 },
    });
  }

  async stop(): Promise<void> {
    if (this.server.exitCode === null) {
      const exited = new Promise((resolve) => this.server.once('exit', resolve));
      this.server.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
