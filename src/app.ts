import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Config, loadConfig } from './config';
import { createKnex } from './db/knex';
import { createLogger } from './logger';

/** The process-wide resources a command needs, created once and closed once. */
export interface App {
  config: Config;
  logger: Logger;
  knex: Knex;
  close(): Promise<void>;
}

export function createApp(config: Config = loadConfig(), applicationName = 'flatfee-worker'): App {
  const logger = createLogger(config.logLevel);
  const knex = createKnex({ databaseUrl: config.databaseUrl, poolMax: config.dbPoolMax, applicationName });
  return {
    config,
    logger,
    knex,
    async close() {
      await knex.destroy();
      logger.flush();
    },
  };
}
