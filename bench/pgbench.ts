import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, TestDatabase } from '../test/helpers/db';

const run = promisify(execFile);

// The per-job SQL ceiling (REFERENCE §9): what PostgreSQL alone does with the allocate transaction,
// prepared, 16 clients, no application in the way. Same statements as one allocate-credit job:
// idempotency claim, charge lock, run read, allocation insert, run update.
const SCHEMA = `
CREATE TABLE idem (queue text, namespace text, key text, payload_hash char(64), result jsonb, created_at timestamptz DEFAULT now(), PRIMARY KEY (queue, namespace, key));
CREATE TABLE charges (id int PRIMARY KEY, namespace text NOT NULL, status text NOT NULL, run_id int NOT NULL, updated_at timestamptz);
CREATE TABLE runs (id int PRIMARY KEY, charge_id int NOT NULL, credits_total numeric NOT NULL DEFAULT 0, updated_at timestamptz);
CREATE TABLE allocations (id bigserial PRIMARY KEY, run_id int NOT NULL REFERENCES runs, amount numeric NOT NULL, transaction_group_id text, sort_hint int, created_at timestamptz NOT NULL);
CREATE INDEX ON allocations (run_id);
INSERT INTO runs (id, charge_id) SELECT g, g FROM generate_series(1, 10000) g;
INSERT INTO charges (id, namespace, status, run_id) SELECT g, 'bench', 'active', g FROM generate_series(1, 10000) g;
ANALYZE;`;

const SCRIPT = `\\set cid random(1, 10000)
\\set k random(1, 2000000000)
BEGIN;
INSERT INTO idem (queue, namespace, key, payload_hash) VALUES ('allocate-credit', 'bench', :client_id || '-' || :k, repeat('a', 64)) ON CONFLICT DO NOTHING RETURNING key;
SELECT id, status, run_id FROM charges WHERE namespace = 'bench' AND id = :cid FOR UPDATE;
SELECT id, credits_total FROM runs WHERE id = :cid;
INSERT INTO allocations (run_id, amount, transaction_group_id, sort_hint, created_at) VALUES (:cid, 1, 'tg', 0, now());
UPDATE runs SET credits_total = credits_total + 1, updated_at = now() WHERE id = :cid;
END;
`;

function tps(stdout: string): number {
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]);
}

function connArgs(db: TestDatabase): string[] {
  const url = new URL(db.url);
  return ['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username || 'postgres'), db.name];
}

export interface PgbenchScratch {
  allocate(seconds: number): Promise<number>;
  /** The allocate transaction from one client at `rate` per second: each one's latency in ms, pgbench's own schedule lag left out. */
  allocateAtRate(rate: number, seconds: number): Promise<number[]>;
  simpleUpdate(seconds: number): Promise<number>;
  drop(): Promise<void>;
}

export async function preparePgbench(): Promise<PgbenchScratch> {
  const db = await createTestDatabase('bench_pgbench', 'empty');
  await db.knex.raw(SCHEMA);
  const scriptFile = path.join(os.tmpdir(), `ffw-bench-allocate-${process.pid}.sql`);
  writeFileSync(scriptFile, SCRIPT);
  await run('pgbench', ['-i', '-s', '10', '-q', ...connArgs(db)]);
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(new URL(db.url).password || '') };
  return {
    async allocate(seconds) {
      const { stdout } = await run('pgbench', ['-n', '-M', 'prepared', '-c', '16', '-j', '2', '-T', String(seconds), '-f', scriptFile, ...connArgs(db)], { env });
      return tps(stdout);
    },
    async allocateAtRate(rate, seconds) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'ffw-bench-pgbench-'));
      try {
        await run('pgbench', ['-n', '-M', 'prepared', '-c', '1', '-R', String(rate), '-T', String(seconds), '-l', `--log-prefix=${path.join(dir, 'tx')}`, '-f', scriptFile, ...connArgs(db)], { env });
        // One line per transaction: client, number, latency µs, script, epoch s, µs, schedule lag µs.
        const lines = readdirSync(dir).flatMap((f) => readFileSync(path.join(dir, f), 'utf8').trim().split('\n'));
        return lines.map((line) => line.split(' ').map(Number)).map((c) => (c[2] - c[6]) / 1000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async simpleUpdate(seconds) {
      const { stdout } = await run('pgbench', ['-n', '-N', '-M', 'prepared', '-c', '8', '-j', '2', '-T', String(seconds), ...connArgs(db)], { env });
      return tps(stdout);
    },
    drop: () => db.drop(),
  };
}
