import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { createKnex, MIGRATIONS_DIRECTORY } from '../../src/db/knex';
import { migrateLatest, migrateLegacyBaseline } from '../../src/db/migrate';

// Each test file gets its own database: cloned from a migrated template (fast), or empty/legacy for
// migration tests. Databases of files that failed are kept so they can be inspected.

const baseUrl = loadConfig().databaseUrl;
let admin: Knex | null = null;
let templateReady: Promise<string> | null = null;

export function urlFor(database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function adminKnex(): Knex {
  admin ??= knexFactory({ client: 'pg', connection: urlFor('postgres'), pool: { min: 0, max: 2 } });
  return admin;
}

export async function closeAdmin(): Promise<void> {
  await admin?.destroy();
  admin = null;
}

function migrationsFingerprint(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIRECTORY).sort()) {
    hash.update(file).update(readFileSync(path.join(MIGRATIONS_DIRECTORY, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

/** The migrated template, built once per migrations fingerprint (parallel runs take a lock). */
async function template(): Promise<string> {
  templateReady ??= (async () => {
    const name = `ffw_template_${migrationsFingerprint()}`;
    const db = adminKnex();
    await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [name]);
      const exists = await trx.raw('SELECT 1 FROM pg_database WHERE datname = ?', [name]);
      if (exists.rows.length > 0) return;
      await db.raw(`CREATE DATABASE "${name}_build"`).catch(async () => {
        await db.raw(`DROP DATABASE IF EXISTS "${name}_build" WITH (FORCE)`);
        await db.raw(`CREATE DATABASE "${name}_build"`);
      });
      const k = createKnex({ databaseUrl: urlFor(`${name}_build`), poolMax: 1 });
      try {
        await migrateLatest(k);
      } finally {
        await k.destroy();
      }
      await db.raw(`ALTER DATABASE "${name}_build" RENAME TO "${name}"`);
    });
    return name;
  })();
  return templateReady;
}

export type DbShape = 'latest' | 'legacy' | 'empty';

export interface TestDatabase {
  name: string;
  url: string;
  knex: Knex;
  drop(): Promise<void>;
}

export async function createTestDatabase(label: string, shape: DbShape = 'latest'): Promise<TestDatabase> {
  const name = `ffw_t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const db = adminKnex();
  if (shape === 'latest') await db.raw(`CREATE DATABASE "${name}" TEMPLATE "${await template()}"`);
  else await db.raw(`CREATE DATABASE "${name}"`);
  const url = urlFor(name);
  const knex = createKnex({ databaseUrl: url, poolMax: 20, applicationName: `ffw-test-${label}` });
  if (shape === 'legacy') await migrateLegacyBaseline(knex);
  return {
    name,
    url,
    knex,
    async drop() {
      await knex.destroy();
      await db.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** Registers before/after hooks: a fresh database for this file, dropped only if every test passed. */
export function useTestDatabase(label: string, shape: DbShape = 'latest'): () => TestDatabase {
  let current: TestDatabase | null = null;
  before(async function () {
    this.timeout(60000);
    current = await createTestDatabase(label, shape);
  });
  after(async function () {
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed');
    if (!current) return;
    if (failed && !process.env.CI) {
      await current.knex.destroy();
      process.stderr.write(`kept database ${current.name} for inspection\n`);
    } else {
      await current.drop();
    }
  });
  return () => {
    if (!current) throw new Error('test database not ready');
    return current;
  };
}
