import { describe, expect, it } from '@jest/globals';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { ExportFailureLoggingSpanExporter } from '../../services/shared/telemetry/export-failure-logging-span-exporter.js';

/** An exporter whose next results are scripted. */
class ScriptedExporter implements SpanExporter {
  shutDown = false;
  constructor(private readonly results: ExportResult[]) {}
  export(_spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    resultCallback(this.results.shift() ?? { code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {
    this.shutDown = true;
  }
}

const spans = (count: number) => Array.from({ length: count }, () => ({}) as ReadableSpan);
const unavailable = (): ExportResult => ({ code: ExportResultCode.FAILED, error: new Error('14 UNAVAILABLE: No connection established') });

describe('ExportFailureLoggingSpanExporter', () => {
  it('passes results through, writes the first failure at once and the others as one summary (at shutdown at the latest)', async () => {
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const inner = new ScriptedExporter([{ code: ExportResultCode.SUCCESS }, unavailable(), unavailable(), unavailable()]);
    const exporter = new ExportFailureLoggingSpanExporter(inner, (message, fields) => lines.push({ message, fields }), 60_000);
    const results: ExportResultCode[] = [];
    for (let index = 0; index < 4; index++) exporter.export(spans(index + 1), (result) => results.push(result.code));

    expect(results).toEqual([ExportResultCode.SUCCESS, ExportResultCode.FAILED, ExportResultCode.FAILED, ExportResultCode.FAILED]);
    expect(lines).toEqual([{ message: 'trace export failed; spans dropped', fields: { error: expect.any(Error), spans: 2, count: 1 } }]);
    expect(String((lines[0]!.fields.error as Error).message)).toContain('UNAVAILABLE');

    await exporter.shutdown();
    expect(inner.shutDown).toBe(true);
    expect(lines.at(-1)).toEqual({ message: 'trace export failed; spans dropped', fields: { error: expect.any(Error), spans: 4, count: 2, intervalSeconds: 60 } });
  });
});
