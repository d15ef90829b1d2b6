import { describe, expect, it } from '@jest/globals';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { registerSecretValues } from '../../services/shared/logging/logger.js';
import { RedactingSpanExporter } from '../../services/shared/telemetry/redacting-span-exporter.js';

const SECRET = 'span-secret-7f3a9c';

describe('RedactingSpanExporter', () => {
  it('redacts registered secrets in span names, string attributes, the status message and events, and keeps the rest', async () => {
    registerSecretValues([SECRET]);
    const exported = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new RedactingSpanExporter(exported) })] });
    const tracer = provider.getTracer('test');

    const span = tracer.startSpan(`publish ${SECRET}`, {
      attributes: {
        'url.full': `https://hooks.example.com/services/${SECRET}`,
        'webhook.attempt': 2,
        'webhook.tags': ['plain', `x-${encodeURIComponent(SECRET)}`],
        'webhook.destination': 'billing',
      },
    });
    span.recordException(new Error(`HTTP 500: echoed ${SECRET}`));
    span.setStatus({ code: SpanStatusCode.ERROR, message: `billing: HTTP 500: echoed ${SECRET}` });
    const { traceId, spanId } = span.spanContext();
    span.end();
    const quiet = tracer.startSpan('webhook.process', { attributes: { 'webhook.event_id': 'e-1' } });
    quiet.end();
    await provider.forceFlush();

    const [redacted, untouched] = exported.getFinishedSpans();
    expect(redacted!.name).toBe('publish [REDACTED]');
    expect(redacted!.attributes).toEqual({
      'url.full': 'https://hooks.example.com/services/[REDACTED]',
      'webhook.attempt': 2,
      'webhook.tags': ['plain', 'x-[REDACTED]'],
      'webhook.destination': 'billing',
    });
    expect(redacted!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'billing: HTTP 500: echoed [REDACTED]' });
    expect(redacted!.events[0]!.attributes!['exception.message']).toBe('HTTP 500: echoed [REDACTED]');
    expect(JSON.stringify(redacted!.events)).not.toContain(SECRET);
    // Still the same span to the exporter: its context, times and scope come from the original.
    expect(redacted!.spanContext()).toMatchObject({ traceId, spanId });
    expect(redacted!.ended).toBe(true);
    expect(redacted!.instrumentationScope.name).toBe('test');
    // Nothing to redact: handed on as it was.
    expect(untouched!.attributes).toEqual({ 'webhook.event_id': 'e-1' });
    await provider.shutdown();
  });
});
