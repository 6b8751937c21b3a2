import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { ulid } from 'ulid';
import { BoardServer, startBoard } from '../../src/board/server';
import { loadConfig } from '../../src/config';
import { ERROR_CODES } from '../../src/domain/errors';
import { resetMetrics } from '../../src/observability/metrics';
import { useTestDatabase } from '../helpers/db';
import { allocation, chargePayload, NS } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

const config = loadConfig();
const USER = 'sre';
const PASSWORD = 'metrics-test-password';

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text → the samples of one metric name, labels parsed. */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** `a=1,b=2` keys (labels sorted) → value, for deep-equal assertions on a whole metric. */
function byLabels(list: Sample[], omit: string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const key = Object.keys(s.labels).filter((k) => !omit.includes(k)).sort().map((k) => `${k}=${s.labels[k]}`).join(',');
    out[key] = s.value;
  }
  return out;
}

describe('/metrics after a known mix of jobs: outcomes, codes, retries and histograms', () => {
  const db = useTestDatabase('observability_metrics');
  const h = useWorkerHarness('observability-metrics', () => db().knex);
  let board: BoardServer;
  let text: string;
  const chargeA = ulid();

  before(async function () {
    this.timeout(60000);
    board = await startBoard({ knex: db().knex, logger: pino({ level: 'silent' }), redisUrl: config.redisUrl, prefix: h().prefix, port: 0, host: '127.0.0.1', user: USER, password: PASSWORD, readOnly: true });
    // The registry is process-wide: other files' jobs must not count here.
    resetMetrics();

    // given: jobs one after another (each its own transaction on every engine path)
    const created = await h().run('create-charge', chargePayload({ id: chargeA, settlementMode: 'credit_then_invoice' }), { idempotencyKey: 'k-create-a' });
    expect(created.state).to.equal('completed');
    expect((await h().run('create-charge', chargePayload())).state).to.equal('completed');
    const replay = await h().run('create-charge', chargePayload({ id: chargeA, settlementMode: 'credit_then_invoice' }), { idempotencyKey: 'k-create-a' });
    expect(replay.result).to.deep.include({ replayed: true });
    expect((await h().run('create-charge', chargePayload({ amountBeforeProration: 12.5 }))).failedReason).to.match(/^validation_failed: /);
    expect((await h().run('allocate-credit', { namespace: NS, chargeId: chargeA, realizations: [allocation('100')] })).state).to.equal('completed');
    expect((await h().run('allocate-credit', { namespace: NS, chargeId: chargeA, realizations: [allocation('0.01')] })).failedReason).to.match(/^credit_allocations_exceed_total: /);
    expect((await h().run('allocate-credit', { namespace: NS, chargeId: ulid(), realizations: [allocation('5')] })).failedReason).to.match(/^charge_not_found: /);
    // a retried code: 3 attempts (FAST_RETRY), so two retries and then the final rejection
    const early = await h().run('payment', { namespace: NS, chargeId: chargeA, action: 'authorize', lineId: ulid(), invoiceId: ulid(), transactionGroupId: 'tg-1' });
    expect(early.failedReason).to.match(/^invoiced_usage_required: /);
    expect(early.job.attemptsMade).to.equal(3);

    // when: an operator scrapes /metrics
    const res = await fetch(new URL('/metrics', board.url), { headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` } });
    expect(res.status).to.equal(200);
    text = await res.text();
  });

  after(async () => {
    await board?.close();
  });

  it('counts one final outcome per delivery, with the code only on rejections', () => {
    expect(byLabels(samples(text, 'flatfee_jobs_total'))).to.deep.equal({
      'outcome=applied,queue=create-charge': 2,
      'outcome=replayed,queue=create-charge': 1,
      'code=validation_failed,outcome=rejected,queue=create-charge': 1,
      'outcome=applied,queue=allocate-credit': 1,
      'code=credit_allocations_exceed_total,outcome=rejected,queue=allocate-credit': 1,
      'code=charge_not_found,outcome=rejected,queue=allocate-credit': 1,
      'code=invoiced_usage_required,outcome=rejected,queue=payment': 1,
    });
  });

  it('counts the retried attempts by code, apart from the outcomes', () => {
    expect(byLabels(samples(text, 'flatfee_job_retries_total'))).to.deep.equal({ 'code=invoiced_usage_required,queue=payment': 2 });
  });

  it('times every counted delivery in the duration histogram, by queue and outcome', () => {
    expect(byLabels(samples(text, 'flatfee_job_duration_seconds_count'))).to.deep.equal({
      'outcome=applied,queue=create-charge': 2,
      'outcome=replayed,queue=create-charge': 1,
      'outcome=rejected,queue=create-charge': 1,
      'outcome=applied,queue=allocate-credit': 1,
      'outcome=rejected,queue=allocate-credit': 2,
      'outcome=rejected,queue=payment': 1,
    });
    const inf = samples(text, 'flatfee_job_duration_seconds_bucket').filter((s) => s.labels.le === '+Inf');
    expect(byLabels(inf, ['le'])).to.deep.equal(byLabels(samples(text, 'flatfee_job_duration_seconds_count')));
  });

  it('times every job from enqueue to its outcome, backoff included', () => {
    expect(byLabels(samples(text, 'flatfee_job_latency_seconds_count'))).to.deep.equal({ 'queue=create-charge': 4, 'queue=allocate-credit': 3, 'queue=payment': 1 });
    const latency = byLabels(samples(text, 'flatfee_job_latency_seconds_sum'));
    const duration = byLabels(samples(text, 'flatfee_job_duration_seconds_sum'));
    // two backoffs of 20 ms lie between the payment's enqueue and its final attempt
    expect(latency['queue=payment']).to.be.at.least(0.04);
    expect(duration['outcome=rejected,queue=payment']).to.be.below(latency['queue=payment']);
  });

  it('counts the committed transactions and their sizes (replays commit their journal entry)', () => {
    expect(byLabels(samples(text, 'flatfee_batch_commits_total'))).to.deep.equal({ 'queue=create-charge': 3, 'queue=allocate-credit': 1 });
    expect(byLabels(samples(text, 'flatfee_batch_size_count'))).to.deep.equal({ 'queue=create-charge': 3, 'queue=allocate-credit': 1 });
    expect(byLabels(samples(text, 'flatfee_batch_size_sum'))).to.deep.equal({ 'queue=create-charge': 3, 'queue=allocate-credit': 1 });
  });

  it("reports the PostgreSQL pool and each worker's Redis connection", () => {
    const pool = byLabels(samples(text, 'flatfee_db_pool_connections'));
    expect(Object.keys(pool).sort()).to.deep.equal(['state=idle', 'state=used']);
    expect(pool['state=used'] + pool['state=idle']).to.be.within(1, 20);
    expect(samples(text, 'flatfee_db_pool_max_connections')).to.deep.equal([{ labels: {}, value: 20 }]);
    expect(samples(text, 'flatfee_db_pool_pending_acquires')).to.deep.equal([{ labels: {}, value: 0 }]);
    const redis = samples(text, 'flatfee_redis_connection_up').filter((s) => s.labels.connection === 'main');
    expect(byLabels(redis)).to.deep.equal(Object.fromEntries(h().workers.map((w) => [`connection=main,queue=${w.name}`, 1])));
  });

  it('documents alerts and a dashboard that use only metrics and codes the worker exports', () => {
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const docs = path.resolve(__dirname, '../../docs');
    const dashboard = JSON.parse(readFileSync(path.join(docs, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ type: string; targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.targets!.map((t) => t.expr).join('\n'));
    expect(exprs.every((e) => e.length > 0)).to.equal(true);
    const alerts = readFileSync(path.join(docs, 'prometheus-alerts.yml'), 'utf8');
    const used = [...[...exprs, alerts].join('\n').matchAll(/\b((?:flatfee|bullmq)_[a-z0-9_]+)/g)].map((m) => m[1]);
    expect(used.length).to.be.above(20);
    // a histogram's series are its name plus _bucket, _count or _sum
    expect(used.filter((name) => !exported.has(name) && !exported.has(name.replace(/_(bucket|count|sum)$/, '')))).to.deep.equal([]);
    for (const alert of ['FlatfeeEnqueueToCommitP99High', 'FlatfeeCreditAllocationsExceedTotalSpike', 'FlatfeeCurrentRunRequiredRetriesNotDraining', 'FlatfeePgPoolSaturated']) expect(alerts).to.contain(`alert: ${alert}`);
    const codes = [...alerts.matchAll(/code="([a-z_]+)"/g)].map((m) => m[1]);
    expect(codes.filter((c) => !(ERROR_CODES as readonly string[]).includes(c))).to.deep.equal([]);
  });

  it('keeps process metrics and BullMQ gauges, and never a namespace or charge id as a label', () => {
    expect(samples(text, 'flatfee_process_resident_memory_bytes')).to.have.length(1);
    expect(samples(text, 'bullmq_job_count').length).to.be.above(0);
    for (const line of text.split('\n').filter((l) => l.startsWith('flatfee_'))) {
      expect(line).not.to.contain(NS);
      expect(line).not.to.contain(chargeA);
    }
  });
});
