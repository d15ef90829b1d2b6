import { afterAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { find, podSpecOf, renderChart } from './helm.js';

/**
 * The service opens its HTTP port only once PostgreSQL answers, waiting up to STARTUP_WAIT_MS for it (a fresh install
 * starts the pods before the database; a managed database may come up slowly). Until then /health/live is refused,
 * so the startupProbe fails throughout, and the kubelet kills the container after periodSeconds × failureThreshold
 * (5 × 36 = 180 s). The chart derives terminationGracePeriodSeconds from SHUTDOWN_TIMEOUT_MS, but leaves the startup
 * budget fixed: `config.STARTUP_WAIT_MS` above ~175 s silently does nothing past 180 s (the container is killed and
 * restarted into CrashLoopBackOff while it is still waiting, as it was told to).
 */

let ns: TestQueueNamespace;
const started: ServiceProcess[] = [];
afterAll(async () => {
  for (const service of started) await service.kill();
  await ns?.cleanup();
});

const STARTUP_WAIT_MS = 300_000;

describe('startupProbe budget vs config.STARTUP_WAIT_MS', () => {
  it('covers the wait for PostgreSQL the pods are configured with (the port stays closed all that time)', async () => {
    const deployments = find(renderChart([], [`config.STARTUP_WAIT_MS=${STARTUP_WAIT_MS}`]), 'Deployment');
    expect(deployments).toHaveLength(2);

    // What the probe sees while the service waits for PostgreSQL: nothing listens, though the process is healthy and
    // doing what it was configured to do.
    ns = createQueueNamespace();
    const closedPort = await freePort();
    const service = new ServiceProcess(
      {
        SERVICE_ROLE: 'ingress',
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${closedPort}/webhooks`,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        STARTUP_WAIT_MS: String(STARTUP_WAIT_MS),
      },
      await freePort(),
    );
    started.push(service);
    await service.start({ waitForReady: false });
    await waitFor('two retries while PostgreSQL is away', () => service.jsonLogs().filter((line) => String(line.message).includes('not reachable yet; retrying')).length >= 2, {
      timeoutMs: 30_000,
    });
    expect(service.exitState()).toBeUndefined();
    expect(await fetch(`${service.baseUrl}/health/live`).then((r) => r.status).catch(() => 'refused')).toBe('refused');

    for (const deployment of deployments) {
      const container = podSpecOf(deployment).containers[0];
      const env = Object.fromEntries((container.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
      expect(env.STARTUP_WAIT_MS).toBe(String(STARTUP_WAIT_MS));
      const probe = container.startupProbe;
      const budgetSeconds = probe.periodSeconds * probe.failureThreshold;
      expect({ deployment: deployment.metadata.name, budgetSeconds, coversWait: budgetSeconds > STARTUP_WAIT_MS / 1000 }).toEqual({
        deployment: deployment.metadata.name,
        budgetSeconds,
        coversWait: true,
      });
    }
  });
});
