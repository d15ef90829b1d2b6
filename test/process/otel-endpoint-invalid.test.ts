/**
 * OTEL_EXPORTER_OTLP_ENDPOINT is one of the contract's variables ("OTLP gRPC exporter (OTEL_EXPORTER_OTLP_ENDPOINT,
 * default http://localhost:4317)"), and the contract says invalid configuration stops the process "with one clear line
 * naming the variable". An endpoint the URL parser refuses (a port out of range, two endpoints comma-separated, a
 * space) instead crashes the tracing preload with a 20-line `TypeError: Invalid URL` stack from
 * @opentelemetry/otlp-grpc-exporter-base, exit code 1, naming no variable — before the service's own validation runs.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { testServiceUrls } from '../support/test-services.js';

const started: ServiceProcess[] = [];

afterAll(async () => {
  for (const service of started) await service.kill();
});

describe('an invalid OTEL_EXPORTER_OTLP_ENDPOINT with tracing on', () => {
  it.each(['http://otel-collector:99999', 'http://collector-a:4317,http://collector-b:4317', 'http://otel collector:4317'])(
    '%s: exit 78 with one line naming OTEL_EXPORTER_OTLP_ENDPOINT (not an Invalid URL stack trace)',
    async (endpoint) => {
      const service = new ServiceProcess(
        {
          SERVICE_ROLE: 'ingress',
          // Never reached: the start must stop before connecting to anything.
          DATABASE_URL: testServiceUrls().databaseUrl.replace(/\/[^/]*$/, '/webhooks_otel_never_created'),
          REDIS_URL: testServiceUrls().redisUrl,
          STARTUP_WAIT_MS: '0',
          OTEL_SDK_DISABLED: 'false',
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        },
        await freePort(),
        { preloadTelemetry: true },
      );
      started.push(service);
      await service.start({ waitForReady: false });
      const { code } = await service.exited(60_000);
      expect(service.logs).toEqual([expect.stringMatching(/^Invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT: /)]);
      expect(code).toBe(78);
    },
    90_000,
  );
});
