import { Command } from 'commander';
import { loadConfig } from '../src/config';
import { createKnex } from '../src/db/knex';
import { migrateLegacyBaseline } from '../src/db/migrate';
import { seedLegacy } from '../src/db/legacy-migration-seed';
import { progressLine } from '../src/cli/render';

// `npm run seed:legacy -- --charges N`: fills DATABASE_URL's legacy tables (SPEC §7) with a realistic
// mix. An empty database gets the legacy baseline first; an upgraded one takes the rows as legacy
// charges too (migrated_to_runs defaults to false).

async function main(argv: string[]): Promise<void> {
  const opts = new Command('seed-legacy')
    .option('--charges <n>', 'legacy charges to create', '1000')
    .option('--namespaces <list>', 'comma-separated namespaces, charges spread over them', 'ns-legacy')
    .option('--seed <n>', 'the same seed gives the same mix', '42')
    .parse(argv)
    .opts<{ charges: string; namespaces: string; seed: string }>();
  const charges = Number(opts.charges);
  if (!Number.isInteger(charges) || charges < 1) throw new Error(`--charges must be a positive integer, got "${opts.charges}"`);
  const knex = createKnex({ databaseUrl: loadConfig().databaseUrl, poolMax: 2, applicationName: 'flatfee-seed-legacy' });
  try {
    const hasCharges = await knex.schema.hasTable('charge_flat_fees');
    if (!hasCharges) await migrateLegacyBaseline(knex);
    const started = Date.now();
    const seeded = await seedLegacy(knex, {
      charges,
      namespaces: opts.namespaces.split(',').filter(Boolean),
      seed: Number(opts.seed),
      onChunk: (n) => process.stderr.write(progressLine(`seeded ${n} / ${charges} charges`, process.stderr.isTTY === true)),
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    process.stdout.write(`${JSON.stringify({ ...seeded, seconds: (Date.now() - started) / 1000 })}\n`);
  } finally {
    await knex.destroy();
  }
}

main(process.argv).catch((err) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
