import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Config, config as processConfig } from './config';
import { createKnex } from './db/knex';
import { createLogger } from './logger';

/** The process-wide resources a command needs, created once and closed once. */
export interface App {
  config: Config;
  logger: Logger;
  knex: Knex;
  close(): Promise<void>;
}

export function createApp(config: Config = processConfig(), applicationName = 'flatfee-worker'): App {
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

/** Runs a one-shot command with its own App and always closes it, so the process can exit. */
export async function withApp<T>(fn: (app: App) => Promise<T>, applicationName?: string): Promise<T> {
  const app = createApp(undefined, applicationName);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}
