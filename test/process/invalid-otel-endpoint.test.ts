/**
 * README, Configuration: "Invalid values stop the process at start, before it connects to anything or migrates, with
 * one line naming the variable and exit code 78". With tracing on (the preload the image and scripts/start.sh run), an
 * OTEL_EXPORTER_OTLP_ENDPOINT that is not a URL (a space in a Helm value, a template left unrendered) instead crashes
 * the preload with Node's uncaught-error dump: a 17-line stack of OpenTelemetry internals, `TypeError: Invalid URL`,
 * the variable never named, exit code 1 (a crash loop that reads as a bug in the service, not a setting to fix).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { testServiceUrls } from '../support/test-services.js';

const started: ServiceProcess[] = [];
afterAll(async () => {
  for (const service of started) await service.kill();
});

describe('an invalid OTLP endpoint with tracing on', () => {
  it('stops the start with one line naming OTEL_EXPORTER_OTLP_ENDPOINT and exit 78', async () => {
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        // A database that does not exist: nothing may be created before the configuration is found bad.
        DATABASE_URL: (() => {
          const url = new URL(testServiceUrls().databaseUrl);
          url.pathname = `/webhooks_badotel_${process.pid}_${randomBytes(4).toString('hex')}`;
          return url.toString();
        })(),
        REDIS_URL: testServiceUrls().redisUrl,
        QUEUE_PREFIX: `badotel-${randomBytes(4).toString('hex')}`,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel collector:4317',
      },
      await freePort(),
      { preloadTelemetry: true },
    );
    started.push(service);
    await service.start({ waitForReady: false });
    const { code } = await service.exited(60_000);
    expect({ code, logs: service.logs }).toEqual({ code: 78, logs: [expect.stringMatching(/^Invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT: /)] });
  }, 90_000);
});
