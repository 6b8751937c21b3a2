import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { SpanKind } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { activeTelemetry, maskLiterals, startTracing, Tracing, tracingRequested } from '../../src/observability/tracing';
import { useTestDatabase } from '../helpers/db';
import { chargePayload } from '../helpers/fixtures';
import { useWorkerHarness } from '../helpers/queue';

/** Keeps spans in memory and tells a test when the span it waits for has ended. */
class WatchedExporter extends InMemorySpanExporter {
  private waiters: Array<{ match: (s: ReadableSpan) => boolean; resolve: (s: ReadableSpan) => void }> = [];

  override export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    super.export(spans, done);
    for (const span of spans) {
      for (const w of this.waiters.filter((x) => x.match(span))) w.resolve(span);
      this.waiters = this.waiters.filter((x) => !x.match(span));
    }
  }

  waitFor(match: (s: ReadableSpan) => boolean): Promise<ReadableSpan> {
    const found = this.getFinishedSpans().find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

const sqlOf = (s: ReadableSpan) => String(s.attributes['db.query.text'] ?? '');

/** Whether `span` descends from `ancestor` through the recorded parents. */
function descendsFrom(span: ReadableSpan, ancestor: ReadableSpan, all: ReadableSpan[]): boolean {
  const byId = new Map(all.map((s) => [s.spanContext().spanId, s]));
  let parentId = span.parentSpanContext?.spanId;
  for (let hops = 0; parentId && hops < 50; hops++) {
    if (parentId === ancestor.spanContext().spanId) return true;
    parentId = byId.get(parentId)?.parentSpanContext?.spanId;
  }
  return false;
}

describe('tracing: one trace from the producer add through the worker to the SQL of its transaction', () => {
  const exporter = new WatchedExporter();
  let tracing: Tracing;

  // Before the database and the workers: knex loads pg (patched) and the Worker takes its telemetry.
  before(() => {
    tracing = startTracing({ exporter, simple: true });
  });
  const db = useTestDatabase('observability_tracing');
  const h = useWorkerHarness('observability-tracing', () => db().knex);
  after(async () => {
    await tracing.shutdown();
    expect(activeTelemetry()).to.equal(undefined);
  });

  it('is off unless an OTEL_* variable names an exporter or an OTLP endpoint', () => {
    expect(tracingRequested({})).to.equal(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).to.equal(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).to.equal(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).to.equal(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).to.equal(true);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).to.equal(false);
  });

  it('loads no SDK, instrumentation or bullmq-otel in a process without OTEL_* (tracing off costs nothing)', async () => {
    const script = [
      "require('tsx/cjs');",
      "const { startTracingFromEnv, activeTelemetry } = require('./src/observability/tracing.ts');",
      "require('./src/cli/main.ts'); require('./src/queues/worker.ts'); require('./src/queues/producer.ts');",
      'const tracing = startTracingFromEnv();',
      "const loaded = Object.keys(require.cache).filter((p) => /@opentelemetry[\\/](sdk-|instrumentation|exporter|resources)|bullmq-otel|require-in-the-middle/.test(p));",
      'process.stdout.write(JSON.stringify({ tracing, telemetry: activeTelemetry() ?? null, loaded }));',
    ].join('\n');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '../..'), env });
    expect(JSON.parse(stdout)).to.deep.equal({ tracing: null, telemetry: null, loaded: [] });
  });

  it('masks the literals a statement inlines, keeping its shape', () => {
    expect(maskLiterals(`SELECT * FROM unnest(E'{"ch_1","it''s"}'::text[], '{"x\\"}') WHERE a = 'b''c' AND n = 1`)).to.equal('SELECT * FROM unnest(?::text[], ?) WHERE a = ? AND n = 1');
    expect(maskLiterals('insert into "charges" ("id") values ($1)')).to.equal('insert into "charges" ("id") values ($1)');
  });

  it('links add → process → the SQL statements that applied the job, all in one trace', async () => {
    // given: two charges, enqueued through the typed producer client
    const first = chargePayload({ settlementMode: 'credit_then_invoice' });
    const second = chargePayload({ settlementMode: 'credit_then_invoice' });
    // when: each is applied (one after the other, so each is its own transaction with BATCH_SIZE too)
    const a = await h().queues.createCharge(first as never);
    expect((await h().wait(a)).state).to.equal('completed');
    const b = await h().queues.createCharge(second as never);
    expect((await h().wait(b)).state).to.equal('completed');
    // the processing span ends after BullMQ's completed event: wait for both to be exported
    await Promise.all([a, b].map((job) => exporter.waitFor((s) => s.name === 'process create-charge' && s.attributes['bullmq.job.id'] === job.id)));

    // then: each job's add span is the root of its own trace
    const spans = exporter.getFinishedSpans();
    if (process.env.DEBUG_SPANS) for (const s of spans) console.log(s.name, s.kind, s.spanContext().traceId.slice(0, 6), s.spanContext().spanId.slice(0, 6), s.parentSpanContext?.spanId?.slice(0, 6), sqlOf(s).slice(0, 60));
    const adds = spans.filter((s) => s.name.startsWith('add create-charge') && s.kind === SpanKind.PRODUCER);
    expect(adds).to.have.length(2);
    const traceIds = adds.map((s) => s.spanContext().traceId);
    expect(new Set(traceIds).size).to.equal(2);
    for (const [job, add] of [[a, adds.find((s) => s.attributes['bullmq.job.id'] === a.id)], [b, adds.find((s) => s.attributes['bullmq.job.id'] === b.id)]] as const) {
      expect(add, `add span of job ${job.id}`).to.not.equal(undefined);
      const trace = spans.filter((s) => s.spanContext().traceId === add!.spanContext().traceId);
      // the worker's processing is a child of the add, carried inside the job
      const processing = trace.filter((s) => s.name === 'process create-charge' && s.kind === SpanKind.CONSUMER);
      expect(processing).to.have.length(1);
      expect(processing[0].parentSpanContext?.spanId).to.equal(add!.spanContext().spanId);
      // and every SQL statement of its transaction is a span under the processing span
      const sql = trace.filter((s) => s.kind === SpanKind.CLIENT && sqlOf(s) !== '');
      const statements = sql.map(sqlOf);
      // (the batched path sends BEGIN with its reads and COMMIT with its write, in one text each)
      expect(statements.filter((q) => /(^|;\s*)BEGIN\b/i.test(q))).to.have.length(1);
      // (one statement per table on the per-job path, one statement for all on the batched path)
      expect(statements.some((q) => /insert into "?charge_flat_fees"? /i.test(q))).to.equal(true, statements.join('\n'));
      expect(statements.some((q) => /insert into "?charge_flat_fee_runs"? /i.test(q))).to.equal(true, statements.join('\n'));
      expect(statements.filter((q) => /(^|;\s*)COMMIT\b/i.test(q))).to.have.length(1);
      for (const s of sql) expect(descendsFrom(s, processing[0], spans), sqlOf(s)).to.equal(true);
      // the statements carry no bound values (payload ids and amounts stay out of the trace)
      for (const s of sql) expect(Object.keys(s.attributes).some((k) => k.startsWith('db.query.parameter') || k === 'db.postgresql.values')).to.equal(false);
      const chargeId = (job === a ? first : second).id;
      expect(statements.join('\n')).not.to.contain(chargeId);
      expect(statements.join('\n')).not.to.contain('ns-test');
    }
  });
});
