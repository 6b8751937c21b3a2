import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ulid } from 'ulid';
import { buildProgram } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { useTestDatabase } from '../helpers/db';
import { chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';
import { cliEnv, runCli } from './process';

describe('flatfee-worker CLI: enqueue, charge, jobs, retry, help and bad arguments', () => {
  const db = useTestDatabase('cli');
  const h = useWorkerHarness('cli', () => db().knex);
  const env = () => cliEnv({ DATABASE_URL: db().url, REDIS_URL: loadConfig().redisUrl, QUEUE_PREFIX: h().prefix });
  const cli = (...args: string[]) => runCli(args, env());
  const finished = async (queue: 'create-charge' | 'activate-charge', jobId: string) => h().wait((await h().queues.queue(queue).getJob(jobId))!);

  it('prints --help for the program and for every command, exiting 0', async function () {
    this.timeout(60000);
    const program = buildProgram();
    const commands = program.commands.map((c) => c.name());
    expect(commands).to.include.members(['start', 'worker', 'board', 'migrate', 'enqueue', 'charge', 'jobs', 'retry']);
    // Every command's help text, in-process (a process per command would cost seconds each)...
    for (const command of program.commands) {
      expect(command.helpInformation(), command.name()).to.match(new RegExp(`^Usage: flatfee-worker ${command.name()} `));
      expect(command.description(), command.name()).to.not.equal('');
    }
    // ...and `--help` through the real bin, for the program and for a command.
    const [top, jobs] = await Promise.all([cli('--help'), cli('jobs', '--help')]);
    expect(top.code).to.equal(0);
    for (const name of commands) expect(top.stdout).to.contain(`  ${name}`);
    expect(jobs.code).to.equal(0);
    expect(jobs.stdout).to.match(/^Usage: flatfee-worker jobs \[options\] <queue>/);
    expect(jobs.stdout).to.contain('--failed');
  });

  it('rejects bad arguments with a clear message and a non-zero exit', async function () {
    // eight bins start at once: on a shared 2-core machine that alone can take 30 s
    this.timeout(60000);
    const cases: Array<[string[], number, RegExp]> = [
      [['frobnicate'], 1, /unknown command 'frobnicate'/],
      [['enqueue', 'create-charge'], 1, /missing required argument 'payload'/],
      [['enqueue', 'no-such-queue', '{}'], 2, /unknown queue "no-such-queue"; one of: create-charge/],
      [['enqueue', 'create-charge', '{not json'], 2, /payload is not valid JSON/],
      [['enqueue', 'create-charge', '@/nonexistent/payload.json'], 1, /ENOENT/],
      [['jobs', 'payment', '--limit', '0'], 1, /--limit <n>' argument '0' is invalid\. must be a positive integer/],
      [['retry', 'payment'], 1, /missing required argument 'jobId'/],
      [['charge', NS], 1, /missing required argument 'id'/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((res, i) => {
      const [args, code, message] = cases[i];
      expect(res.code, args.join(' ')).to.equal(code);
      expect(res.stderr, args.join(' ')).to.match(message);
      expect(res.stdout, args.join(' ')).to.equal('');
    });
  });

  it('validates a payload locally: a bad one lists every field, exits 1 and enqueues nothing', async () => {
    const before = await h().queues.queue('create-charge').count();
    const bad = chargePayload({ amountBeforeProration: 100, currency: 'XXXX', extra: true });
    const res = await cli('enqueue', 'create-charge', JSON.stringify(bad));
    expect(res.code).to.equal(1);
    expect(res.stderr).to.match(/^error: validation_failed: /);
    for (const field of ['amountBeforeProration', 'currency', 'has unknown fields: extra']) expect(res.stderr).to.contain(field);
    expect(await h().queues.queue('create-charge').count()).to.equal(before);
  });

  it('enqueues from JSON and from @file, prints the job id, and the job completes', async () => {
    const inline = chargePayload({ settlementMode: 'invoice_only' });
    const res = await cli('enqueue', 'create-charge', JSON.stringify(inline));
    expect(res.code).to.equal(0);
    const jobId = res.stdout.trim();
    expect(jobId).to.match(/^\d+$/);
    const out = await finished('create-charge', jobId);
    expect(out.state).to.equal('completed');
    expect(out.result).to.include({ chargeId: inline.id, status: 'active' });

    const file = path.join(os.tmpdir(), `ffw-cli-${ulid()}.json`);
    const fromFile = chargePayload();
    writeFileSync(file, JSON.stringify(fromFile));
    const res2 = await cli('enqueue', 'create-charge', `@${file}`, '--job-id', `charge-${fromFile.id}`);
    expect(res2.stdout).to.equal(`charge-${fromFile.id}\n`);
    expect((await finished('create-charge', `charge-${fromFile.id}`)).result).to.include({ chargeId: fromFile.id, status: 'created' });
  });

  it('shows a charge as a table and as JSON with camelCase fields', async () => {
    const p = chargePayload({ settlementMode: 'credit_then_invoice', amountBeforeProration: '250' });
    const created = await h().run('create-charge', p);
    const table = await cli('charge', NS, p.id);
    expect(table.code).to.equal(0);
    expect(table.stdout).to.match(new RegExp(`^charge +status +mode`));
    expect(table.stdout).to.match(new RegExp(`${p.id} +active +credit_then_invoice +USD +250 +250 +cust-1`));
    expect(table.stdout).to.contain(`current run ${created.result!.currentRunId}`);
    const json = await cli('charge', NS, p.id, '--json');
    const charge = JSON.parse(json.stdout);
    expect(charge).to.include({ id: p.id, status: 'active', amountAfterProration: '250' });
    expect(charge.realizations.currentRun.id).to.equal(created.result!.currentRunId);
    expect(charge.realizations.currentRun.totals.creditsTotal).to.equal('0');
    expect(charge.realizations.priorRuns).to.deep.equal([]);
    const missing = await cli('charge', NS, ulid());
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/charge not found/);
  });

  it('lists failed jobs with their error code, then retries one that can now succeed', async () => {
    // given an activation enqueued before its charge exists, which fails with charge_not_found
    const p = chargePayload({ settlementMode: 'invoice_only' });
    const failed = await h().run('activate-charge', { namespace: NS, chargeId: p.id });
    expect(failed.state).to.equal('failed');
    const jobId = failed.job.id!;

    const listed = await cli('jobs', 'activate-charge', '--failed');
    expect(listed.code).to.equal(0);
    expect(listed.stdout).to.match(/^job id +state +attempts +charge +created +error code +reason/);
    expect(listed.stdout).to.match(new RegExp(`\\n${jobId} +failed +1 +${p.id} +\\S+ +charge_not_found +charge_not_found: charge not found`));
    const asJson = JSON.parse((await cli('jobs', 'activate-charge', '--failed', '--json')).stdout);
    expect(asJson.find((j: { id: string }) => j.id === jobId)).to.include({ state: 'failed', errorCode: 'charge_not_found', chargeId: p.id });

    // when the charge is created and the operator retries the failed job
    await h().run('create-charge', p);
    const retried = await cli('retry', 'activate-charge', jobId);
    expect(retried.code).to.equal(0);
    expect(retried.stdout).to.equal(`retried ${jobId} (queue activate-charge)\n`);

    // then it runs again and completes, and all jobs of the queue show it completed
    const out = await finished('activate-charge', jobId);
    expect(out.state).to.equal('completed');
    expect(out.result).to.include({ status: 'active', provisioned: false });
    const all = await cli('jobs', 'activate-charge');
    expect(all.stdout).to.match(new RegExp(`\\n${jobId} +completed +1 +${p.id} `));
  });

  it('refuses to retry a job that is not failed or does not exist', async () => {
    const done = await h().run('create-charge', chargePayload());
    const notFailed = await cli('retry', 'create-charge', done.job.id!);
    expect(notFailed.code).to.equal(1);
    expect(notFailed.stderr).to.contain(`error: job ${done.job.id} on create-charge is completed; only failed jobs can be retried`);
    const unknown = await cli('retry', 'create-charge', 'no-such-job');
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain('error: job not found [queue=create-charge job_id=no-such-job]');
  });
});
