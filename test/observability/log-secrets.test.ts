/**
 * Secrets never reach the logs: a real service process configured with provider secrets, an admin token, a
 * database password and destination secrets takes valid and invalid webhooks and admin calls, delivers (with a
 * failed attempt first), and shuts down; then every line it wrote (stdout and stderr, debug level) and every span
 * it exported is searched for every secret, every signature sent, and the payload bodies.
 *
 * Then the redaction of every configured secret (environment, PROVIDERS_FILE, ROUTES_FILE) in every role: separate
 * ingress and worker processes get the secrets echoed back by clients, raw and encoded, in paths, correlation ids,
 * headers, query strings, failing bodies, event types and a destination's error answers (see the last describe);
 * those answers are redacted where they are kept too (PostgreSQL's error texts, the failed jobs in Redis).
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { createStandardWebhookSigner } from '../../services/shared/standard-webhooks/sign.js';
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

describe('secrets never appear in logs (or spans)', () => {
  beforeAll(async () => {
    // The destination fails each event's first attempt (the worker logs the failure), then accepts. Per event, not
    // the first request overall: the worker delivers events concurrently, in no fixed order.
    const failedOnce = new Set<string>();
    [db, receiver, sink] = await Promise.all([
      createTestDatabase(),
      new OtlpTraceReceiver().start(),
      new HttpSink((request) => {
        const id = String(request.headers['webhook-id']);
        if (failedOnce.has(id)) return { status: 200 };
        failedOnce.add(id);
        return { status: 500 };
      }).start(),
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

  it("redacts secrets that code logs by mistake (the logger's safety net), registered from real files", async () => {
    // The secrets from files are registered the way the service registers them (configured-secrets.ts, from the
    // loaded PROVIDERS_FILE and ROUTES_FILE); the script registers nothing by hand.
    const fileSecret = 'file-secret-value-from-providers-file';
    const acmeSecret = `whsec_${Buffer.concat([Buffer.from([0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff]), randomBytes(26)]).toString('base64')}`;
    const destinationKey = `dest/key+${randomBytes(8).toString('hex')}=`;
    const signatureValue = 'f'.repeat(64);
    const files = writeConfigFiles(
      {
        providers: {
          shop: { type: 'hmac', header: 'X-Shop-Hmac-Sha256', algorithm: 'sha256', encoding: 'base64', secrets: [fileSecret] },
          acme: { type: 'standard-webhooks', secrets: [acmeSecret] },
        },
      },
      { destinations: { billing: { url: 'http://billing.internal/hooks', headers: { 'x-api-key': destinationKey } } }, routes: [] },
    );
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(here, 'support/log-redaction-script.ts')], {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          LOG_LEVEL: 'info',
          STRIPE_WEBHOOK_SECRET: STRIPE_SECRETS.join(','),
          ADMIN_API_TOKEN: ADMIN_TOKEN,
          DATABASE_URL: `postgresql://app:${DB_PASSWORD}@db:5432/webhooks`,
          PROVIDERS_FILE: files.providersPath,
          ROUTES_FILE: files.routesPath,
          // What the script logs by mistake (it does not register these).
          FILE_SECRET: fileSecret,
          ACME_SECRET: acmeSecret,
          DESTINATION_KEY: destinationKey,
          SIGNATURE_VALUE: signatureValue,
        },
      }));
    } finally {
      files.remove();
    }
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    for (const secret of [...STRIPE_SECRETS, ADMIN_TOKEN, DB_PASSWORD, fileSecret, acmeSecret, destinationKey, signatureValue]) {
      for (const form of encodedForms(secret)) expect({ form, inLogs: stdout.includes(form) }).toEqual({ form, inLogs: false });
    }
    expect(lines[0]).toMatchObject({
      headers: { 'stripe-signature': '[REDACTED]', authorization: '[REDACTED]', 'content-type': 'application/json' },
      destination: { name: 'billing', secret: '[REDACTED]', timeoutMs: 1000 },
      token: '[REDACTED]',
      payload: '[REDACTED]',
    });
    expect(lines[1]!.message).toBe('connect failed for secret [REDACTED]');
    expect(lines[2]!.url).toBe('postgresql://app:[REDACTED]@db:5432/webhooks');
    expect(lines[3]).toMatchObject({ message: 'harmless', eventId: 'evt-1', provider: 'stripe', level: 'info', service: 'event-driven-integration-service' });
    expect(lines[4]).toMatchObject({
      message: 'request',
      path: '/webhooks/[REDACTED]/[REDACTED]/[REDACTED]/[REDACTED]',
      correlationId: '[REDACTED]',
      userAgent: 'client [REDACTED]',
    });
    expect(lines[5]).toMatchObject({ message: 'delivery failed', lastError: 'billing: HTTP 500: {"echo":"[REDACTED]","key":"[REDACTED]","note":"kept"}' });
  });
});

/** A PROVIDERS_FILE and a ROUTES_FILE in a temporary directory of their own. */
function writeConfigFiles(providers: unknown, routes: unknown): { providersPath: string; routesPath: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'log-secrets-'));
  const providersPath = path.join(dir, 'providers.yaml');
  const routesPath = path.join(dir, 'routes.yaml');
  writeFileSync(providersPath, stringify(providers), 'utf8');
  writeFileSync(routesPath, stringify(routes), 'utf8');
  return { providersPath, routesPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Every form in which a client can make `secret` appear in a JSON log line: raw, JSON-escaped (once, and twice for
 * JSON logged inside a string), percent-encoded (encodeURIComponent, lower-case hex, only '/' encoded as a path
 * segment encoder does), and the same for a Standard Webhooks secret's key material without `whsec_`.
 */
function encodedForms(secret: string): string[] {
  const encoded = encodeURIComponent(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const forms = [
    secret,
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    secret.replaceAll('/', '%2F'),
    json,
    JSON.stringify(json).slice(1, -1),
  ];
  if (secret.startsWith('whsec_')) forms.push(...encodedForms(secret.slice('whsec_'.length)));
  return [...new Set(forms)];
}

/** One request with exactly this path and these headers (fetch would normalize the path); resolves with the status. */
function rawRequest(baseUrl: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: url.hostname, port: url.port, method: options.method ?? 'GET', path: options.path, headers: { connection: 'close', ...options.headers } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * A client can echo any configured secret into any role's log lines. Separate ingress and worker processes, with a
 * real PROVIDERS_FILE and ROUTES_FILE, get requests that carry every secret (environment, PROVIDERS_FILE,
 * ROUTES_FILE, admin token, database password) in the path (raw, percent-encoded, lower-case hex, '/' only), the
 * query string, X-Correlation-Id, User-Agent and other headers, bodies that fail, event types, and bodies a
 * destination echoes back in the error the worker logs. No form of any secret may appear in any line of either.
 */
describe('every configured secret is redacted in every role, in any form a client can echo it', () => {
  const ACME_SECRET = `whsec_${Buffer.concat([Buffer.from([0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff]), randomBytes(26)]).toString('base64')}`;
  const SHOP_SECRET = `shop+hmac/secret=${randomBytes(8).toString('hex')}`;
  const SHOP_OLD_SECRET = `shop"quoted\\secret-${randomBytes(8).toString('hex')}`;
  const DEST_SECRET = `whsec_${Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xfb, 0xef, 0xbe]), randomBytes(24)]).toString('base64')}`;
  const DEST_BEARER = `bearer+tok/${randomBytes(10).toString('hex')}`;
  const DEST_API_KEY = `api/key+${randomBytes(10).toString('hex')}=`;
  const DEST_URL_PASSWORD = `url/pass+${randomBytes(8).toString('hex')}`;
  const DEST_QUERY_TOKEN = `query+token/${randomBytes(8).toString('hex')}`;
  /** Where each secret is configured (named in a failure), and its value. */
  const NAMED_SECRETS: Record<string, string> = {
    'STRIPE_WEBHOOK_SECRET[0]': STRIPE_SECRETS[0]!,
    'STRIPE_WEBHOOK_SECRET[1]': STRIPE_SECRETS[1]!,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    'DATABASE_URL password': DB_PASSWORD,
    'PROVIDERS_FILE acme secret': ACME_SECRET,
    'PROVIDERS_FILE shop secret': SHOP_SECRET,
    'PROVIDERS_FILE shop old secret': SHOP_OLD_SECRET,
    'ROUTES_FILE echo secret': DEST_SECRET,
    'ROUTES_FILE echo authorization header': DEST_BEARER,
    'ROUTES_FILE echo x-api-key header': DEST_API_KEY,
    'ROUTES_FILE vault url password': DEST_URL_PASSWORD,
    'ROUTES_FILE vault url access_token': DEST_QUERY_TOKEN,
  };
  const ALL_SECRETS = Object.values(NAMED_SECRETS);

  let splitDb: TestDatabase;
  let splitNs: TestQueueNamespace;
  let echo: Server;
  let files: ReturnType<typeof writeConfigFiles>;
  let ingress: ServiceProcess;
  let worker: ServiceProcess;

  beforeAll(async () => {
    // The destination fails every attempt and answers with what it was sent (the leak field and the credentials),
    // so the worker logs those bytes in its failure line (lastError), JSON inside JSON.
    echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        let leak: unknown;
        try {
          leak = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { leak?: unknown }).leak;
        } catch {
          leak = undefined;
        }
        res.statusCode = 500;
        res.end(JSON.stringify({ leak, authorization: req.headers.authorization, apiKey: req.headers['x-api-key'] }));
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    const vaultUrl = new URL(`${echoUrl}/vault`);
    vaultUrl.username = 'deliverer';
    vaultUrl.password = DEST_URL_PASSWORD;
    vaultUrl.searchParams.set('access_token', DEST_QUERY_TOKEN);

    files = writeConfigFiles(
      {
        providers: {
          acme: { type: 'standard-webhooks', secrets: [ACME_SECRET] },
          shop: {
            type: 'hmac',
            header: 'X-Shop-Hmac-Sha256',
            algorithm: 'sha256',
            encoding: 'base64',
            secrets: [SHOP_SECRET, SHOP_OLD_SECRET],
            idHeader: 'X-Shop-Id',
            typeHeader: 'X-Shop-Topic',
          },
        },
      },
      {
        destinations: {
          echo: { url: `${echoUrl}/hooks`, secret: DEST_SECRET, headers: { authorization: `Bearer ${DEST_BEARER}`, 'x-api-key': DEST_API_KEY, 'x-team': 'payments' } },
          vault: { url: vaultUrl.toString() },
        },
        routes: [
          { provider: 'acme', to: ['echo', 'vault'] },
          { provider: 'shop', to: ['echo'] },
        ],
      },
    );
    [splitDb] = await Promise.all([createTestDatabase()]);
    splitNs = createQueueNamespace();
    const databaseUrl = new URL(splitDb.url);
    databaseUrl.password = DB_PASSWORD;
    // The same configuration for both roles, as the chart gives it.
    const env = {
      LOG_LEVEL: 'debug',
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: splitNs.redisUrl,
      QUEUE_PREFIX: splitNs.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRETS.join(','),
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      PROVIDERS_FILE: files.providersPath,
      ROUTES_FILE: files.routesPath,
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '10',
      RECONCILER_INTERVAL_MS: '600000',
      VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '10000',
    };
    const [ingressPort, workerPort] = [await freePort(), await freePort()];
    ingress = new ServiceProcess({ ...env, SERVICE_ROLE: 'ingress' }, ingressPort);
    worker = new ServiceProcess({ ...env, SERVICE_ROLE: 'worker' }, workerPort);
    await Promise.all([ingress.start(), worker.start()]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ingress?.kill(), worker?.kill()]);
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
    await splitNs?.cleanup();
    await splitDb?.drop();
    files?.remove();
  });

  it('keeps every configured secret, raw or encoded, out of the ingress and worker logs', async () => {
    const base = ingress.baseUrl;
    const signAcme = createStandardWebhookSigner(ACME_SECRET);
    const acmeRequest = (id: string, payload: Record<string, unknown>) => {
      const body = JSON.stringify(payload);
      const timestamp = Math.floor(Date.now() / 1000);
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signAcme(id, timestamp, Buffer.from(body)),
        },
      };
    };
    const shopHeaders = (body: string, topic: string) => ({
      'content-type': 'application/json',
      'x-shop-hmac-sha256': createHmac('sha256', SHOP_SECRET).update(body).digest('base64'),
      'x-shop-id': `shop-${randomBytes(6).toString('hex')}`,
      'x-shop-topic': topic,
    });
    const correlationIdsAccepted: string[] = [];
    const eventIds: string[] = [];

    for (const [index, secret] of ALL_SECRETS.entries()) {
      const encoded = encodeURIComponent(secret);
      const pathForms = [
        secret.replace(/[^\x21-\x7e]/g, encodeURIComponent), // raw (only what HTTP cannot carry is encoded)
        encoded,
        encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
        secret.replaceAll('/', '%2F'),
      ];
      // The path, in every form, on both roles: a webhook route, an unknown path, the admin API.
      for (const service of [ingress, worker]) {
        for (const form of pathForms) {
          for (const prefix of ['/webhooks/', '/nothing/here/', '/admin/events/']) {
            await rawRequest(service.baseUrl, { method: 'POST', path: `${prefix}${form}`, headers: { 'content-type': 'application/json' }, body: '{}' });
          }
        }
        // The query string, and X-Correlation-Id (kept when it is a sane token), User-Agent and other headers.
        const headers = {
          'x-correlation-id': secret,
          'user-agent': `client ${secret}`,
          referer: `http://example.test/${secret}`,
          'x-forwarded-for': secret,
          authorization: `Bearer ${secret}`,
        };
        const response = await fetch(`${service.baseUrl}/health/live?token=${encoded}&raw=${secret.replace(/[^\x21-\x7e]|[#&]/g, encodeURIComponent)}`, { headers });
        if (response.headers.get('x-correlation-id') === secret) correlationIdsAccepted.push(secret);
        await fetch(`${service.baseUrl}/admin/events?provider=${encoded}`, { headers });
      }
      // Webhook requests that fail: a bad signature with the secret in every header, a malformed body (signed).
      const acme = acmeRequest(`msg_bad_${index}`, { type: 'echo.test', leak: secret });
      expect((await fetch(`${base}/webhooks/acme`, { method: 'POST', body: acme.body, headers: { ...acme.headers, 'webhook-signature': `v1,${secret}`, 'webhook-id': secret, 'x-correlation-id': secret } })).status).toBe(401);
      const malformed = `{"leak": "${JSON.stringify(secret).slice(1, -1)}", `;
      expect((await fetch(`${base}/webhooks/shop`, { method: 'POST', body: malformed, headers: shopHeaders(malformed, 'echo.test') })).status).toBe(400);
      expect(
        (await fetch(`${base}/admin/events/replay`, { method: 'POST', body: JSON.stringify({ status: secret, provider: secret }), headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } })).status,
      ).toBeGreaterThanOrEqual(400);
      // An event the destination echoes back: the worker logs the echo (JSON inside JSON) as lastError.
      const accepted = acmeRequest(`msg_echo_${index}`, { type: 'echo.test', leak: secret });
      const response = await fetch(`${base}/webhooks/acme`, { method: 'POST', body: accepted.body, headers: { ...accepted.headers, 'x-correlation-id': secret } });
      expect(response.status).toBe(202);
      eventIds.push(String(((await response.json()) as { id: string }).id));
    }
    // A signed event whose type is a secret: the event type is on the ingress's and the worker's lines.
    const typed = JSON.stringify({ leak: 'none' });
    const typedResponse = await fetch(`${base}/webhooks/shop`, { method: 'POST', body: typed, headers: shopHeaders(typed, ACME_SECRET) });
    expect(typedResponse.status).toBe(202);
    eventIds.push(String(((await typedResponse.json()) as { id: string }).id));

    // Every event fails its last attempt (the worker logs each failure with the destination's answer).
    await waitFor(
      'every echoed event to be dead-lettered',
      () => {
        const dead = new Set(worker.jsonLogs().filter((line) => line.message === 'event dead-lettered').map((line) => line.eventId));
        return eventIds.every((id) => dead.has(id));
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    for (const service of [ingress, worker]) service.signal('SIGTERM');
    await Promise.all([ingress.exited(), worker.exited()]);

    // No form of any secret in any line of either role (every leak listed at once).
    const output = { ingress: ingress.logs.join('\n'), worker: worker.logs.join('\n') };
    const leaks: string[] = [];
    for (const [name, secret] of Object.entries(NAMED_SECRETS)) {
      for (const form of encodedForms(secret)) {
        for (const [role, text] of Object.entries(output)) if (text.includes(form)) leaks.push(`${role} log: ${name} as ${JSON.stringify(form)}`);
      }
    }
    expect(leaks).toEqual([]);

    // The scan is meaningful: both roles logged the requests (paths and correlation ids redacted), the worker the
    // destination's echoes, and sane-token secrets really were taken as correlation ids.
    const ingressLines = ingress.jsonLogs();
    const workerLines = worker.jsonLogs();
    for (const lines of [ingressLines, workerLines]) {
      const requests = lines.filter((line) => line.message === 'request');
      // Four path forms under three prefixes per secret.
      expect(requests.filter((line) => String(line.path).includes('[REDACTED]'))).toHaveLength(ALL_SECRETS.length * 12);
      expect(requests.some((line) => line.correlationId === '[REDACTED]')).toBe(true);
    }
    // All but the secret with a quote and a backslash, on both roles.
    expect(correlationIdsAccepted).toHaveLength(2 * (ALL_SECRETS.length - 1));
    const failures = workerLines.filter((line) => line.message === 'event attempt failed; retry scheduled' || line.message === 'event dead-lettered');
    expect(failures.some((line) => String(line.lastError).includes('"leak":"[REDACTED]"'))).toBe(true);
    expect(failures.some((line) => String(line.lastError).includes('"authorization":"[REDACTED]","apiKey":"[REDACTED]"'))).toBe(true);
    expect(failures.some((line) => line.eventType === '[REDACTED]')).toBe(true);

    // What outlives the logs: the attempts' error texts and the events' last errors in PostgreSQL (the console and
    // the admin API show them), and the failed jobs in Redis (failedReason, stacktrace). The destination's echoes
    // are there, every secret in them redacted.
    const { rows: attempts } = await splitDb.pool.query<{ error: string | null }>('SELECT error FROM delivery_attempts WHERE event_id = ANY($1::uuid[])', [eventIds]);
    const { rows: events } = await splitDb.pool.query<{ last_error: string | null }>('SELECT last_error FROM webhook_events WHERE id = ANY($1::uuid[])', [eventIds]);
    const redis = new Redis(splitNs.redisUrl, { maxRetriesPerRequest: 1 });
    const failedJobs = await Promise.all(eventIds.map((id) => redis.hmget(`${splitNs.prefix}:webhook-events:${id}`, 'failedReason', 'stacktrace')));
    redis.disconnect();
    const stored: Record<string, string> = {
      'delivery_attempts.error': attempts.map((row) => row.error ?? '').join('\n'),
      'webhook_events.last_error': events.map((row) => row.last_error ?? '').join('\n'),
      'failed jobs in Redis': failedJobs.flat().map((field) => field ?? '').join('\n'),
    };
    const storedLeaks: string[] = [];
    for (const [name, secret] of Object.entries(NAMED_SECRETS)) {
      for (const form of encodedForms(secret)) {
        for (const [where, text] of Object.entries(stored)) if (text.includes(form)) storedLeaks.push(`${where}: ${name} as ${JSON.stringify(form)}`);
      }
    }
    expect(storedLeaks).toEqual([]);
    expect(attempts.length).toBeGreaterThanOrEqual(eventIds.length);
    expect(events).toHaveLength(eventIds.length);
    for (const [where, text] of Object.entries(stored)) {
      expect({ where, echoed: text.includes('"leak":"[REDACTED]"') && text.includes('"authorization":"[REDACTED]","apiKey":"[REDACTED]"') }).toEqual({ where, echoed: true });
    }
  }, 180_000);
});
