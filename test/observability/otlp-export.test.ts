import { once } from 'node:events';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { loadConfig } from '../../src/config';
import { startTracingFromEnv } from '../../src/observability/tracing';
import { FlatFeeQueues } from '../../src/queues/producer';
import { chargePayload } from '../helpers/fixtures';
import { dropPrefix, testPrefix } from '../helpers/queue';

interface Received {
  path: string;
  contentType: string | undefined;
  body: {
    resourceSpans: Array<{
      resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
      scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }>;
    }>;
  };
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('tracing from the standard OTEL_* variables: the producer client exports its add over OTLP/HTTP', () => {
  const prefix = testPrefix('otlp-export');
  const received: Received[] = [];
  let collector: Server;
  const saved = { ...process.env };

  before(async () => {
    // A collector stand-in: answers every export with 200 and keeps what it got.
    collector = createServer(async (req, res) => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(await bodyOf(req)) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
  });

  after(async () => {
    // process.env itself stays (a plain object put in its place would stop coercing values to strings)
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    collector.close();
    await dropPrefix(prefix);
  });

  it('sends the add span, with the service name, to OTEL_EXPORTER_OTLP_ENDPOINT when tracing shuts down', async () => {
    // given: only the endpoint and a service name are configured, as an operator would
    const { port } = collector.address() as AddressInfo;
    for (const key of Object.keys(process.env)) if (key.startsWith('OTEL_')) delete process.env[key];
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`;
    process.env.OTEL_SERVICE_NAME = 'flatfee-otlp-test';
    const tracing = startTracingFromEnv();
    expect(tracing).to.not.equal(null);
    const queues = new FlatFeeQueues({ redisUrl: loadConfig().redisUrl, prefix });
    try {
      // when: a job is enqueued through the typed client, then the process's tracing shuts down
      const job = await queues.createCharge(chargePayload() as never);
      expect(job.opts.telemetry?.metadata).to.match(/traceparent/);
    } finally {
      await queues.close();
      await tracing!.shutdown();
    }
    // then: the batch was exported to /v1/traces as OTLP JSON
    expect(received.map((r) => [r.path, r.contentType])).to.deep.equal([['/v1/traces', 'application/json']]);
    const [resourceSpans] = received[0].body.resourceSpans;
    expect(resourceSpans.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue).to.equal('flatfee-otlp-test');
    const names = resourceSpans.scopeSpans.flatMap((s) => s.spans.map((span) => span.name));
    expect(names.filter((n) => n.startsWith('add create-charge'))).to.have.length(1);
  });
});
