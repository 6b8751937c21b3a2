import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTracing, startTracingFromEnv, Tracing } from '../src/observability/tracing';

// The cost of observability per job (issue 24): `--metrics off` sets METRICS_ENABLED=false for the
// worker processes, `--tracing on` runs them with the whole SDK (BullMQ spans, a span per SQL
// statement, the batch span processor) and an exporter that drops the spans, so the figure is the
// worker's own cost without a collector; `--tracing otlp` exports with the standard OTEL_* variables.

export type TracingMode = 'off' | 'on' | 'otlp';

/** Accepts every batch at once and keeps nothing. */
class DroppingExporter implements SpanExporter {
  export(_spans: Parameters<SpanExporter['export']>[0], done: Parameters<SpanExporter['export']>[1]): void {
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

/** In a worker process, before its knex exists: BENCH_TRACING as set by bench/run.ts. */
export function benchTracing(mode: string | undefined): Tracing | null {
  if (!mode || mode === 'off') return null;
  if (mode === 'on') return startTracing({ exporter: new DroppingExporter() });
  if (mode !== 'otlp') throw new Error(`BENCH_TRACING=${mode}: off, on or otlp`);
  const tracing = startTracingFromEnv();
  if (!tracing) throw new Error('--tracing otlp needs OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER)');
  return tracing;
}
