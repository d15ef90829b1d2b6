import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { verify as verifyGithub } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { chartDir, one, renderChart } from './helm.js';

/**
 * The `helm test` Pod runs files/helm-test.js with `node -e` in the service image. Run the same script here
 * against a local stand-in for the ingress Service, and check its signatures with the providers' own libraries.
 */

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const script = readFileSync(path.join(chartDir, 'files/helm-test.js'), 'utf8');
const received: Received[] = [];
let readyAfter = 0;
let webhookStatus = 202;
let readyCalls = 0;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    received.push({ path: req.url ?? '', headers: req.headers, body });
    if (req.url === '/health/ready') {
      readyCalls += 1;
      res.writeHead(readyCalls > readyAfter ? 200 : 503, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    res.writeHead(webhookStatus, { 'content-type': 'application/json' }).end('{"id":"x","status":"PENDING","duplicate":false}');
  });
});

function runScript(env: Record<string, string>): Promise<{ code: number; output: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', EIS_TEST_BASE_URL: `http://127.0.0.1:${port}`, EIS_TEST_TIMEOUT_MS: '20000', ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

function reset(options: { readyAfter?: number; webhookStatus?: number } = {}) {
  received.length = 0;
  readyCalls = 0;
  readyAfter = options.readyAfter ?? 0;
  webhookStatus = options.webhookStatus ?? 202;
}

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('files/helm-test.js (the helm test Pod)', () => {
  it('is the script the chart renders into the test Pod', () => {
    const pod = one(renderChart([]), 'Pod');
    expect(pod.spec.containers[0].args).toEqual(['-e', script.endsWith('\n') ? script : `${script}\n`]);
  });

  it('with no provider secret: waits for /health/ready and sends nothing else', async () => {
    reset({ readyAfter: 1 });
    const result = await runScript({});
    expect(result.code).toBe(0);
    expect(result.output).toContain('health only');
    expect(received.map((r) => r.path)).toEqual(['/health/ready', '/health/ready']);
  }, 30_000);

  it('sends a Stripe event that Stripe’s own library verifies with the first configured secret', async () => {
    reset();
    const result = await runScript({ STRIPE_WEBHOOK_SECRET: 'whsec_first, whsec_second', GITHUB_WEBHOOK_SECRET: 'ignored' });
    expect(result.code).toBe(0);
    const webhook = received.find((r) => r.path === '/webhooks/stripe');
    expect(webhook).toBeDefined();
    expect(webhook!.headers['content-type']).toBe('application/json');
    const stripe = new Stripe('sk_test_unused');
    const event = stripe.webhooks.constructEvent(webhook!.body, String(webhook!.headers['stripe-signature']), 'whsec_first');
    expect(event.type).toBe('helm.test');
    expect(event.id).toMatch(/^evt_helmtest_/);
  });

  it('sends a GitHub ping signed with X-Hub-Signature-256 when only GitHub is configured', async () => {
    reset({ webhookStatus: 200 });
    const result = await runScript({ GITHUB_WEBHOOK_SECRET: 'gh-secret' });
    expect(result.code).toBe(0);
    const webhook = received.find((r) => r.path === '/webhooks/github');
    expect(webhook?.headers['x-github-event']).toBe('ping');
    expect(webhook?.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(await verifyGithub('gh-secret', webhook!.body, String(webhook!.headers['x-hub-signature-256']))).toBe(true);
  });

  it('fails when the service rejects the webhook', async () => {
    reset({ webhookStatus: 401 });
    const result = await runScript({ STRIPE_WEBHOOK_SECRET: 'whsec_first' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('401');
  });

  it('only checks health when EIS_TEST_SEND_WEBHOOK=false', async () => {
    reset();
    const result = await runScript({ STRIPE_WEBHOOK_SECRET: 'whsec_first', EIS_TEST_SEND_WEBHOOK: 'false' });
    expect(result.code).toBe(0);
    expect(received.map((r) => r.path)).toEqual(['/health/ready']);
  });
});
