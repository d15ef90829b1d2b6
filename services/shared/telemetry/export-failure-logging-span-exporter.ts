import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { RateLimitedLog } from '../logging/rate-limited-log.js';

/**
 * Hands spans to `inner` and reports its failed exports (a collector unreachable, refusing, timing out) as warn
 * lines: the first at once, then one a minute with how many exports failed (see {@link RateLimitedLog}). The SDK
 * drops a batch it could not export and tells only OpenTelemetry's diag logger, which nothing here registers (it
 * would also bring the SDK's debug chatter); without this an operator who turned tracing on and sees no trace
 * finds nothing in the log about why.
 */
export class ExportFailureLoggingSpanExporter implements SpanExporter {
  private readonly failures: RateLimitedLog;

  /** @param warn writes one warn line (the service's JSON logger), e.g. `(message, fields) => logger.warn(message, fields)` */
  constructor(
    private readonly inner: SpanExporter,
    warn: (message: string, fields: Record<string, unknown>) => void,
    intervalMs?: number,
  ) {
    this.failures = new RateLimitedLog((fields) => warn('trace export failed; spans dropped', fields), intervalMs);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.FAILED) {
        this.failures.note({ error: result.error ?? new Error('the exporter gave no reason'), spans: spans.length });
      }
      resultCallback(result);
    });
  }

  /** Shuts the inner exporter down, then writes the pending summary line, if any (its failures would go unsaid). */
  async shutdown(): Promise<void> {
    try {
      await this.inner.shutdown();
    } finally {
      this.failures.flush();
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
