import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, DEFAULT_DATABASE_URL, loadConfig } from '../../src/config';
import { cliEnv, runCli } from '../cli/process';

// One typed configuration, every variable checked, all bad ones listed in one error (issue 20 item 5).

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults: the flatfee database, local Redis, port 3000, a writable board', () => {
    const c = loadConfig({});
    expect(c).to.deep.include({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/flatfee',
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'bull',
      boardPort: 3000,
      boardReadOnly: false,
      redisCluster: false,
      keepCompletedJobs: 10000,
      keepFailedJobs: 50000,
      legacyMigrationLanes: 2,
      batchSize: 50,
      batchPartitions: 2,
      workerConcurrency: 150,
      dbPoolMax: 24,
      metricsEnabled: true,
    });
    expect(DEFAULT_DATABASE_URL).to.equal('postgres://postgres@127.0.0.1:5432/flatfee');
  });

  it('booleans are true/false/1/0/yes/no in any case', () => {
    for (const v of ['true', 'TRUE', '1', 'yes', 'Yes']) expect(loadConfig({ BOARD_READ_ONLY: v }).boardReadOnly, v).to.equal(true);
    for (const v of ['false', 'False', '0', 'no', 'NO']) expect(loadConfig({ BOARD_READ_ONLY: v }).boardReadOnly, v).to.equal(false);
    expect(loadConfig({ REDIS_CLUSTER: 'yes' }).redisCluster).to.equal(true);
    expect(problemsOf({ BOARD_READ_ONLY: 'maybe' })).to.deep.equal(['BOARD_READ_ONLY must be true/false/1/0/yes/no, got "maybe"']);
  });

  it('lists every bad variable in one error', () => {
    expect(
      problemsOf({
        KEEP_FAILED_JOBS: 'ten',
        KEEP_COMPLETED_JOBS: '0',
        BOARD_PORT: '99999',
        LEGACY_MIGRATION_LANES: '0',
        BATCH_SIZE: '1.5',
        WORKER_CONCURRENCY: '-1',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://x/y',
        REDIS_URL: 'not a url',
      }),
    ).to.deep.equal([
      'BATCH_SIZE must be an integer 1..1000, got "1.5"',
      'WORKER_CONCURRENCY must be an integer 1..10000, got "-1"',
      'DATABASE_URL must be a postgres:// or postgresql:// URL, got "mysql://x/y"',
      'REDIS_URL must be a redis:// or rediss:// URL, got "not a url"',
      'BOARD_PORT must be an integer 0..65535, got "99999"',
      'LOG_LEVEL must be one of fatal|error|warn|info|debug|trace|silent, got "loud"',
      'KEEP_COMPLETED_JOBS must be an integer >= 1, got "0"',
      'KEEP_FAILED_JOBS must be an integer >= 1, got "ten"',
      'LEGACY_MIGRATION_LANES must be an integer 1..16, got "0"',
    ]);
    expect(loadConfig({ BOARD_PORT: '0' }).boardPort).to.equal(0);
    expect(loadConfig({ BOARD_PORT: '65535' }).boardPort).to.equal(65535);
  });

  it('no module outside src/config.ts reads process.env', () => {
    const root = path.resolve(__dirname, '../..');
    const hits = execFileSync('grep', ['-rln', 'process\\.env', 'src', 'jobs'], { cwd: root, encoding: 'utf8' }).trim().split('\n');
    expect(hits).to.deep.equal(['src/config.ts']);
  });

  it('the CLI refuses bad variables in one line naming each, exit 2, before connecting anywhere', async function () {
    this.timeout(20000);
    const out = await runCli(['jobs', 'create-charge'], cliEnv({ BOARD_READ_ONLY: 'maybe', KEEP_FAILED_JOBS: 'ten', REDIS_URL: 'redis://127.0.0.1:1' }));
    expect(out.code).to.equal(2);
    expect(out.stderr).to.equal(
      'error: bad configuration: BOARD_READ_ONLY must be true/false/1/0/yes/no, got "maybe"; KEEP_FAILED_JOBS must be an integer >= 1, got "ten"\n',
    );
  });
});
