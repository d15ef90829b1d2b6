/**
 * A PATCH the reporter gave up on (no answer within requestTimeoutMs) may still have been applied by the API server:
 * the request was written in full, and a slow API server (etcd latency, a brownout) applies it and answers late. The
 * reporter must then not assume the annotation still holds the last value it saw acknowledged: when the pod goes
 * back to that value (busy → idle), the annotation has to be written again, or an idle worker keeps the busy cost
 * and scale-in removes a busy worker before it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { POD_DELETION_COST_ANNOTATION, PodDeletionCostReporter } from '../../services/worker/scaling/pod-deletion-cost.js';

/** An API server that applies every PATCH at once (like etcd committing it) and answers after `answerAfterMs`. */
class SlowApiServer {
  /** The annotation as the API server holds it. */
  applied: string | undefined;
  readonly received: string[] = [];
  answerAfterMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metadata: { annotations: Record<string, string> } };
      const cost = body.metadata.annotations[POD_DELETION_COST_ANNOTATION]!;
      this.received.push(cost);
      this.applied = cost;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'worker-0', namespace: 'ns', annotations: { [POD_DELETION_COST_ANNOTATION]: cost } } }));
      };
      if (this.answerAfterMs === 0) return answer();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!res.destroyed) answer();
      }, this.answerAfterMs);
      this.timers.add(timer);
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'test', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('PodDeletionCostReporter: a PATCH abandoned after requestTimeoutMs but applied by a slow API server', () => {
  const api = new SlowApiServer();
  let reporter: PodDeletionCostReporter | undefined;

  beforeAll(async () => {
    await api.start();
  });

  afterAll(async () => {
    await reporter?.close();
    await api.stop();
  });

  it('an idle worker does not keep the busy cost', async () => {
    const warnings: string[] = [];
    reporter = new PodDeletionCostReporter({
      podName: 'worker-0',
      namespace: 'ns',
      kubeConfig: kubeConfigFor(api.url),
      minIntervalMs: 50,
      requestTimeoutMs: 200,
      logger: { debug: () => undefined, info: () => undefined, warn: (message) => void warnings.push(message) },
    });
    // Idle, acknowledged: the annotation is 0. (The next PATCH waits for this one's answer: the reporter sends one at a time.)
    reporter.setActiveJobs(0);
    await waitFor(() => api.received.length === 1, 15_000, 'the idle PATCH');

    // The API server slows down: it applies the busy value and answers after the reporter has given up.
    api.answerAfterMs = 1000;
    reporter.setActiveJobs(2);
    await waitFor(() => api.received.length === 2, 15_000, 'the busy PATCH');
    expect(api.applied).toBe('1002');
    // Past requestTimeoutMs: abandoned, counted as failed, which the reporter warns of (before: a fixed 300 ms sleep).
    await waitFor(() => warnings.length > 0, 15_000, 'the busy PATCH to be abandoned');
    api.answerAfterMs = 0;

    // The job ends: the worker is idle again, for good.
    reporter.setActiveJobs(0);
    // After the retry backoff (max(minIntervalMs, 1 s)); before: a fixed 4 s sleep, then the assertion.
    await waitFor(() => api.received.length >= 3, 15_000, 'the idle value to be written again');

    // The API server must hold the idle cost again, as it would without the slow answer.
    expect({ applied: api.applied, received: api.received }).toEqual({ applied: '0', received: ['0', '1002', '0'] });
  });
});
