import { telemetryEnvironment } from '../config';
import type { Telemetry } from 'bullmq';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * OpenTelemetry tracing, off unless the standard OTEL_* variables ask for it. Off, nothing of the
 * SDK, the pg instrumentation or bullmq-otel is even loaded (every module below is required
 * lazily), BullMQ gets no telemetry and the job path is unchanged. On: a producer's add, the
 * worker's processing and every SQL statement of the transaction that applied the job are one
 * trace (BullMQ carries the context in the job; pg spans are children of the active span).
 */

export interface Tracing {
  /** What Queue and Worker take as `telemetry` so the context travels inside each job. */
  telemetry: Telemetry;
  /** Flushes pending spans, unpatches pg and unregisters the global provider. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go; default from OTEL_TRACES_EXPORTER (otlp, console). */
  exporter?: SpanExporter;
  /** Export each span at its end (tests) instead of batching (default). */
  simple?: boolean;
  env?: NodeJS.ProcessEnv;
}

let current: Tracing | null = null;

/**
 * Tracing is on when an exporter is named (OTEL_TRACES_EXPORTER other than none) or an OTLP
 * endpoint is set, and OTEL_SDK_DISABLED is not true.
 */
export function tracingRequested(env: NodeJS.ProcessEnv = telemetryEnvironment()): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The telemetry for BullMQ Queues and Workers of this process: undefined while tracing is off. */
export function activeTelemetry(): Telemetry | undefined {
  return current?.telemetry;
}

/** SQL text with every string literal ('…', E'…') replaced by `?`: the statement's shape, not its data. */
export function maskLiterals(sql: string): string {
  return sql.replace(/\bE'(?:[^'\\]|\\.|'')*'/g, '?').replace(/'(?:[^']|'')*'/g, '?');
}

function exporterFromEnv(env: NodeJS.ProcessEnv): SpanExporter {
  const kind = env.OTEL_TRACES_EXPORTER?.split(',')[0].trim() || 'otlp';
  if (kind === 'console') {
    const { ConsoleSpanExporter } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
    return new ConsoleSpanExporter();
  }
  if (kind !== 'otlp') throw new Error(`OTEL_TRACES_EXPORTER=${kind} is not supported (otlp, console or none)`);
  // Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS and _TIMEOUT itself.
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  return new OTLPTraceExporter();
}

/**
 * Registers the global tracer provider and the pg instrumentation. Call it before the first knex
 * is created: pg is patched when it is required (knex requires it for each new instance).
 */
export function startTracing(options: TracingOptions = {}): Tracing {
  if (current) return current;
  const env = options.env ?? telemetryEnvironment();
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { BullMQOtel } = require('bullmq-otel') as typeof import('bullmq-otel');
  const { version } = require('../../package.json') as { version: string };

  const exporter = options.exporter ?? exporterFromEnv(env);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector) win over the default name.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'flatfee-worker', 'service.version': version }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [options.simple ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  provider.register();
  // SQL spans only inside a job's trace (not health checks or scrapes). Bound values are never
  // recorded, and literals inlined by the set-based statements are masked (ids, amounts, metadata).
  const pg = new PgInstrumentation({
    requireParentSpan: true,
    enhancedDatabaseReporting: false,
    requestHook: (span, info) => span.setAttribute('db.query.text', maskLiterals(info.query.text)),
  });
  const unregister = registerInstrumentations({ instrumentations: [pg], tracerProvider: provider });
  const tracing: Tracing = {
    telemetry: new BullMQOtel({ tracerName: 'flatfee-worker', version }),
    async shutdown() {
      if (current === tracing) current = null;
      unregister();
      await provider.shutdown();
      api.trace.disable();
      api.context.disable();
      api.propagation.disable();
    },
  };
  current = tracing;
  return tracing;
}

/** The CLI's entry: starts tracing when OTEL_* asks for it; null (and nothing loaded) otherwise. */
export function startTracingFromEnv(env: NodeJS.ProcessEnv = telemetryEnvironment()): Tracing | null {
  return tracingRequested(env) ? startTracing({ env }) : null;
}
