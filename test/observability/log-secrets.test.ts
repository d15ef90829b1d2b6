/**
 * Secrets never reach the logs: a real service process configured with provider secrets, an admin token, a
 * database password and destination secrets takes valid and invalid webhooks and admin calls, delivers (with a
 * failed attempt first), and shuts down; then every line it wrote (stdout and stderr, debug level) and every span
 * it exported is searched for every secret, every signature sent, and the payload bodies.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { githubSignature, postWebhook, signedStripeRequest, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { OtlpTraceReceiver } from './support/otlp-receiver.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

const STRIPE_SECRETS = ['whsec_scan_stripe_current_secret', 'whsec_scan_stripe_previous_secret'];
const GITHUB_SECRET = 'gh-scan-github-secret-value';
const ADMIN_TOKEN = 'admin-scan-token-value-0123456789';
const DB_PASSWORD = 'db-scan-password-value';
const DESTINATION_SECRET = `whsec_${Buffer.from('destination-scan-secret-bytes-32').toString('base64')}`;
const DESTINATION_API_KEY = 'destination-scan-api-key-value';
const PAYLOAD_MARKER = `payload_body_marker_${randomBytes(6).toString('hex')}`;

let db: TestDatabase;
let ns: TestQueueNamespace;
let sink: HttpSink;
let receiver: OtlpTraceReceiver;
let service: ServiceProcess;
let routes: TempRoutesFile;
/** Signature header values sent or forwarded during the test: none may be logged either. */
const signatures: string[] = [];

beforeAll(async () => {
  // The destination fails the first attempt (the worker logs the failure), then accepts.
  [db, receiver, sink] = await Promise.all([
    createTestDatabase(),
    new OtlpTraceReceiver().start(),
    new HttpSink((_request, index) => ({ status: index === 0 ? 500 : 200 })).start(),
  ]);
  ns = createQueueNamespace();
  routes = writeRoutesFile({
    destinations: { billing: { url: `${sink.url}/hooks`, secret: DESTINATION_SECRET, headers: { 'x-api-key': DESTINATION_API_KEY } } },
    routes: [{ provider: 'stripe', to: ['billing'] }],
  });
  const databaseUrl = new URL(db.url);
  databaseUrl.password = DB_PASSWORD; // trust authentication: accepted and never checked, but configured
  service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      LOG_LEVEL: 'debug',
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRETS.join(','),
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      ROUTES_FILE: routes.path,
      JOB_BACKOFF_MS: '10',
      RECONCILER_INTERVAL_MS: '600000',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    await freePort(),
    { preloadTelemetry: true },
  );
  await service.start();
});

afterAll(async () => {
  await service?.kill();
  await Promise.all([receiver?.stop(), sink?.stop()]);
  await ns?.cleanup();
  await db?.drop();
  routes?.remove();
});

describe('secrets never appear in logs (or spans)', () => {
  it('keeps every secret, signature and payload body out of all output', async () => {
    const base = service.baseUrl;
    const admin = (p: string, init: RequestInit = {}, token = ADMIN_TOKEN) =>
      fetch(`${base}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });

    // Stripe: valid (with each secret), duplicate, wrong secret, tampered, missing signature.
    const valid = signedStripeRequest(STRIPE_SECRETS[0]!, { id: 'evt_scan_1', marker: PAYLOAD_MARKER });
    signatures.push(valid.headers['stripe-signature']);
    const accepted = await postWebhook(base, 'stripe', valid.body, { ...valid.headers, authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(accepted.status).toBe(202);
    const eventId = String(accepted.json!.id);
    expect((await postWebhook(base, 'stripe', valid.body, valid.headers)).status).toBe(200);
    const rotated = signedStripeRequest(STRIPE_SECRETS[1]!, { id: 'evt_scan_2', marker: PAYLOAD_MARKER });
    signatures.push(rotated.headers['stripe-signature']);
    expect((await postWebhook(base, 'stripe', rotated.body, rotated.headers)).status).toBe(202);
    const wrongSignature = stripeSignature(valid.body, 'whsec_wrong_secret_for_scan');
    signatures.push(wrongSignature);
    expect((await postWebhook(base, 'stripe', valid.body, { 'content-type': 'application/json', 'stripe-signature': wrongSignature })).status).toBe(401);
    expect((await postWebhook(base, 'stripe', valid.body.replace(PAYLOAD_MARKER, `${PAYLOAD_MARKER}x`), valid.headers)).status).toBe(401);
    expect((await postWebhook(base, 'stripe', valid.body, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await postWebhook(base, 'stripe', `{"marker":"${PAYLOAD_MARKER}"`, valid.headers)).status).toBe(401);

    // GitHub: valid and invalid.
    const githubBody = JSON.stringify({ action: 'opened', marker: PAYLOAD_MARKER });
    const githubSig = githubSignature(githubBody, GITHUB_SECRET);
    signatures.push(githubSig);
    const githubHeaders = { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'scan-delivery-1' };
    expect((await postWebhook(base, 'github', githubBody, { ...githubHeaders, 'x-hub-signature-256': githubSig })).status).toBe(202);
    const githubBad = githubSignature(githubBody, 'not-the-secret');
    signatures.push(githubBad);
    expect((await postWebhook(base, 'github', githubBody, { ...githubHeaders, 'x-hub-signature-256': githubBad })).status).toBe(401);

    // Admin API: right token, wrong token, no token, a replay.
    expect((await admin('/admin/events?limit=5')).status).toBe(200);
    expect((await admin(`/admin/events/${eventId}`)).status).toBe(200);
    expect((await admin('/admin/events', {}, 'wrong-admin-token-for-scan')).status).toBe(401);
    expect((await fetch(`${base}/admin/events`)).status).toBe(401);

    // The event is delivered after a failed attempt; then replayed and delivered again.
    await waitFor('the delivery after a failed attempt', () => sink.requestsFor(eventId).length >= 2);
    await waitFor('the event to complete', async () => {
      const event = (await (await admin(`/admin/events/${eventId}`)).json()) as { status: string };
      return event.status === 'COMPLETED';
    });
    expect((await admin(`/admin/events/${eventId}/replay`, { method: 'POST' })).status).toBe(202);
    expect((await admin('/admin/events/replay', { method: 'POST', body: JSON.stringify({ status: 'DEAD_LETTER' }) })).status).toBe(202);
    signatures.push(...sink.requests.map((request) => String(request.headers['webhook-signature'] ?? '')).filter(Boolean));
    const spansBefore = receiver.spans.length;

    // Graceful shutdown flushes the last lines and spans.
    service.signal('SIGTERM');
    await service.exited();
    await waitFor('spans to be exported', () => receiver.spans.length > spansBefore || receiver.spans.length > 0);

    const output = service.logs.join('\n');
    // The scan is meaningful: the output holds request lines for all of the above, at debug level, and the failure.
    const lines = service.jsonLogs();
    expect(lines.filter((line) => line.message === 'request').length).toBeGreaterThanOrEqual(14);
    expect(lines.some((line) => line.message === 'event attempt failed; retry scheduled' && line.eventId === eventId)).toBe(true);
    expect(lines.some((line) => line.level === 'debug')).toBe(true);

    const forbidden = [
      ...STRIPE_SECRETS,
      GITHUB_SECRET,
      ADMIN_TOKEN,
      DB_PASSWORD,
      DESTINATION_SECRET,
      DESTINATION_SECRET.slice('whsec_'.length),
      DESTINATION_API_KEY,
      PAYLOAD_MARKER,
      ...signatures,
      ...signatures.map((signature) => signature.split('v1=')[1] ?? signature.split('=')[1] ?? signature).filter((part) => part.length > 16),
    ];
    for (const secret of forbidden) expect({ secret, inLogs: output.includes(secret) }).toEqual({ secret, inLogs: false });

    const exported = JSON.stringify(receiver.spans);
    expect(receiver.spans.length).toBeGreaterThan(0);
    for (const secret of forbidden) expect({ secret, inSpans: exported.includes(secret) }).toEqual({ secret, inSpans: false });
  });

  it("redacts secrets that code logs by mistake (the logger's safety net)", async () => {
    const fileSecret = 'file-secret-value-from-providers-file';
    const signatureValue = 'f'.repeat(64);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(here, 'support/log-redaction-script.ts')],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          LOG_LEVEL: 'info',
          STRIPE_WEBHOOK_SECRET: STRIPE_SECRETS.join(','),
          ADMIN_API_TOKEN: ADMIN_TOKEN,
          DATABASE_URL: `postgresql://app:${DB_PASSWORD}@db:5432/webhooks`,
          FILE_SECRET: fileSecret,
          SIGNATURE_VALUE: signatureValue,
        },
      },
    );
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(4);
    for (const secret of [...STRIPE_SECRETS, ADMIN_TOKEN, DB_PASSWORD, fileSecret, signatureValue]) expect(stdout).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      headers: { 'stripe-signature': '[REDACTED]', authorization: '[REDACTED]', 'content-type': 'application/json' },
      destination: { name: 'billing', secret: '[REDACTED]', timeoutMs: 1000 },
      token: '[REDACTED]',
      payload: '[REDACTED]',
    });
    expect(lines[1]!.message).toBe('connect failed for secret [REDACTED]');
    expect(lines[2]!.url).toBe('postgresql://app:[REDACTED]@db:5432/webhooks');
    expect(lines[3]).toMatchObject({ message: 'harmless', eventId: 'evt-1', provider: 'stripe', level: 'info', service: 'event-driven-integration-service' });
  });
});
