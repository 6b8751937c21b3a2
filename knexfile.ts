import { loadConfig } from './src/config';
import { migrationConfig } from './src/db/knex';

// For the knex CLI (`npx knex migrate:latest --knexfile knexfile.ts`); the worker migrates itself.
const config = loadConfig();

module.exports = {
  client: 'pg',
  connection: { connectionString: config.databaseUrl, application_name: 'flatfee-worker-migrate' },
  pool: { min: 0, max: 2 },
  migrations: migrationConfig(),
};
