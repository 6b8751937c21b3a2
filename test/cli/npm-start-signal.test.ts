import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { useTestDatabase } from '../helpers/db';
import { freePort } from '../helpers/private-redis';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { cliEnv } from './process';

// RELIABILITY 19: the README's start command (`npm start`) is what a container or a unit file runs.
// SIGTERM or SIGINT to that process must stop the whole tree and free the port (npm used to exit 143
// and leave the node child running, re-parented, still taking jobs).

const ROOT = path.resolve(__dirname, '../..');

function descendants(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = out.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('npm start as the README documents it', function () {
  this.timeout(90000);
  const db = useTestDatabase('npm_start');
  const prefix = testPrefix('npm-start');
  after(() => dropPrefix(prefix));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm stops every process of the tree and frees the port`, async () => {
      // Given `npm start` serving the board on its own port
      const port = await freePort();
      const env = cliEnv({ DATABASE_URL: db().url, REDIS_URL: loadConfig().redisUrl, QUEUE_PREFIX: prefix, BOARD_PORT: String(port), BOARD_USER: 'u', BOARD_PASSWORD: 'p', BOARD_HOST: '127.0.0.1', LOG_LEVEL: 'info' });
      const npm = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
      let log = '';
      await new Promise<void>((resolve, reject) => {
        npm.stderr!.on('data', (d) => {
          log += String(d);
          if (log.includes('"msg":"worker started"')) resolve();
        });
        npm.once('exit', () => reject(new Error(`npm start exited early:\n${log}`)));
      });
      const tree = descendants(npm.pid!);
      expect(tree.length).to.be.greaterThan(0);
      expect(await portFree(port)).to.equal(false);

      // When the signal reaches the npm process only
      npm.kill(signal);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running after 20 s'), 20000))]);
      const deadline = Date.now() + 10000;
      while (tree.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const left = tree.filter(alive);
      // never leave a worker behind, whatever the outcome
      for (const pid of [npm.pid!, ...left]) if (alive(pid)) process.kill(pid, 'SIGKILL');

      // Then npm exits cleanly, nothing of its tree is left, and the port is free
      expect(code).to.equal(0);
      expect(left, 'processes left running').to.deep.equal([]);
      expect(await portFree(port)).to.equal(true);
    });
  }
});
