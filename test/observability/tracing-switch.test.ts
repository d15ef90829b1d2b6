/**
 * Tracing off costs nothing: with OTEL_SDK_DISABLED (or OTEL_TRACES_EXPORTER=none) the preload loads no SDK and
 * every span is the API's no-op span.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { tracingDisabled } from '../../services/shared/telemetry/tracing-switch.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Starts node with the instrumentation preloaded and reports whether spans record and whether an SDK registered. */
async function probe(env: Record<string, string>): Promise<{ recording: boolean; sdkRegistered: boolean }> {
  const script = [
    "const { trace } = await import('@opentelemetry/api');",
    "const span = trace.getTracer('probe').startSpan('probe');",
    // What an SDK registers globally (tracer provider, context manager, propagator); nothing when none started.
    "const sdkRegistered = Object.keys(globalThis[Symbol.for('opentelemetry.js.api.1')] ?? {}).some((key) => key !== 'version');",
    'console.log(JSON.stringify({ recording: span.isRecording(), sdkRegistered }));',
    'process.exit(0);',
  ].join('\n');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--import', './services/shared/telemetry/instrumentation.ts', '--input-type=module', '-e', script],
    // An unreachable collector: nothing is exported during the probe anyway.
    { cwd: root, env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', ...env } },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { recording: boolean; sdkRegistered: boolean };
}

describe('tracing switch', () => {
  it.each([
    [{ OTEL_SDK_DISABLED: 'true' }, true],
    [{ OTEL_SDK_DISABLED: 'TRUE' }, true],
    [{ OTEL_SDK_DISABLED: '1' }, true],
    [{ OTEL_SDK_DISABLED: 'yes' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none' }, true],
    [{ OTEL_SDK_DISABLED: 'false' }, false],
    [{ OTEL_SDK_DISABLED: '0' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{}, false],
  ])('%j → disabled: %s', (env, disabled) => {
    expect(tracingDisabled(env)).toBe(disabled);
  });

  it('registers no SDK and records nothing when tracing is off; records when on', async () => {
    const [off, on] = await Promise.all([probe({ OTEL_SDK_DISABLED: 'true' }), probe({ OTEL_SDK_DISABLED: 'false' })]);
    expect(off).toEqual({ recording: false, sdkRegistered: false });
    expect(on).toEqual({ recording: true, sdkRegistered: true });
  });
});
