import { expect } from 'chai';
import type { Job } from 'bullmq';
import { ulid } from 'ulid';
import { loadConfig } from '../../src/config';
import { History, renderHistory } from '../../src/cli/history';
import { listed, renderJobs } from '../../src/cli/jobs-command';
import { etaText, phaseText } from '../../src/cli/migrate-legacy';
import { currencyArgument, progressLine } from '../../src/cli/render';
import { FlatFeeQueues } from '../../src/queues/producer';
import { dropPrefix, testPrefix } from '../helpers/queue';
import { cliEnv, runCli } from './process';

// Issue 20 item 7: the smaller CLI defects, each pinned.

function fakeJob(fields: Partial<Job>): Job {
  return { id: '7', data: { chargeId: 'ch' }, attemptsMade: 0, failedReason: undefined, returnvalue: null, timestamp: 0, ...fields } as unknown as Job;
}

describe('CLI details', () => {
  it('jobs: a delayed job retrying after a failure shows its last code and message; a completed one none', () => {
    const reason = 'invoiced_usage_required: no invoiced usage for line 01JD00000000000000000000E1 yet';
    expect(listed(fakeJob({ attemptsMade: 2, failedReason: reason }), 'delayed')).to.deep.include({ errorCode: 'invoiced_usage_required', failedReason: reason });
    expect(listed(fakeJob({ attemptsMade: 1, failedReason: reason }), 'completed')).to.deep.include({ errorCode: null, failedReason: null });
    expect(listed(fakeJob({}), 'waiting')).to.deep.include({ errorCode: null, failedReason: null });
  });

  it('jobs: a reason longer than its column ends with an ellipsis', () => {
    const reason = `validation_failed: ${'x'.repeat(200)}`;
    const out = renderJobs([listed(fakeJob({ attemptsMade: 1, failedReason: reason }), 'failed')]);
    const cell = out.split('\n')[1].split('  ').pop()!;
    expect(cell).to.equal(`${reason.slice(0, 99)}…`);
    expect(cell).to.have.length(100);
  });

  it('history numbers its rows 1..n, not by journal id', () => {
    const entry = (id: string) => ({ id, outcome: 'replayed', finishedAt: '2026-01-01T00:00:00.000Z', queue: 'payment', jobId: '9', attempt: 1, runId: null, moved: [] });
    const h = { namespace: 'ns', chargeId: 'ch', entries: [entry('57'), entry('91')] } as unknown as History;
    const rows = renderHistory(h).split('\n').slice(2, 4);
    expect(rows.map((r) => r.split(/\s+/)[0])).to.deep.equal(['1', '2']);
  });

  it('balance reads a currency in any case as its ISO-4217 code and refuses what is not one', () => {
    expect(currencyArgument('usd')).to.equal('USD');
    expect(currencyArgument('Eur')).to.equal('EUR');
    expect(() => currencyArgument('usdx')).to.throw('"usdx" is not an ISO-4217 currency code');
  });

  it('progress without a terminal is one line each; on a terminal it redraws', () => {
    expect(progressLine('seeded 10 / 20 charges', false)).to.equal('seeded 10 / 20 charges\n');
    expect(progressLine('seeded 10 / 20 charges', true)).to.equal('\rseeded 10 / 20 charges');
  });

  it('migrate-legacy bar: no ETA before progress, and a question once nothing moved for 15 s', () => {
    expect(etaText(0, 1000, 5000)).to.equal('-');
    expect(etaText(250, 1000, 5000)).to.equal('15s');
    expect(phaseText('migrating', 14999)).to.equal('migrating');
    expect(phaseText('migrating', 70000)).to.equal('no progress for 70 s — is a worker running?');
  });

  describe('through the bin', function () {
    this.timeout(60000);
    const prefix = testPrefix('cli-details');
    const redisUrl = loadConfig().redisUrl;
    let queues: FlatFeeQueues;
    before(() => {
      queues = new FlatFeeQueues({ redisUrl, prefix });
    });
    after(async () => {
      await queues.close();
      await dropPrefix(prefix);
    });

    it('--help names the environment variables, and --version prints the version, even with a bad variable', async () => {
      const [out, version] = await Promise.all([runCli(['--help'], cliEnv({ BOARD_PORT: 'x' })), runCli(['--version'], cliEnv({ BOARD_PORT: 'x' }))]);
      expect(version).to.deep.include({ code: 0, stdout: '0.1.0\n' });
      expect(out.code).to.equal(0);
      for (const name of ['DATABASE_URL', 'REDIS_URL', 'QUEUE_PREFIX', 'BOARD_PORT', 'BOARD_READ_ONLY', 'KEEP_FAILED_JOBS', 'BATCH_SIZE', 'LEGACY_MIGRATION_LANES']) {
        expect(out.stdout).to.include(name);
      }
    });

    it('enqueue --job-id with an existing id says so and exits 1; migrate-legacy refuses beside a waiting migration', async () => {
      // Given a job with a custom id and a migration job waiting (no worker on this prefix)
      const payload = { namespace: 'ns', chargeId: ulid() };
      await queues.activateCharge(payload, { jobId: 'activate-once' });
      const migration = await queues.migrateLegacyFlatFees({});
      const env = cliEnv({ REDIS_URL: redisUrl, QUEUE_PREFIX: prefix });
      const [again, second] = await Promise.all([
        runCli(['enqueue', 'activate-charge', JSON.stringify(payload), '--job-id', 'activate-once'], env),
        runCli(['migrate-legacy'], env),
      ]);
      // Then neither adds a job
      expect(again.code).to.equal(1);
      expect(again.stdout).to.equal('');
      expect(again.stderr).to.equal('error: job activate-once already exists on activate-charge (state waiting); nothing enqueued\n');
      expect(second.code).to.equal(1);
      expect(second.stderr).to.equal(`error: migration job ${migration.id} is already waiting; wait for it (flatfee-worker jobs migrate-legacy-flat-fees) instead of starting a second one\n`);
      expect(await queues.queue('migrate-legacy-flat-fees').getJobCounts('waiting')).to.deep.equal({ waiting: 1 });
    });
  });
});
