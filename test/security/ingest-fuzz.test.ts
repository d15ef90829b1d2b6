import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { leaks, PROVIDERS, SECRETS, SIGNATURE_HEADERS, validSignatureHeaders, writeProvidersFile, type Provider } from './support/signers.js';

/**
 * Property-based fuzzing of POST /webhooks/{provider} (the only route reachable without credentials that writes):
 * whatever arrives, the answer is a deliberate 4xx (or 2xx for a valid signature), never a 500; nothing unverified
 * is stored; no secret, stack trace or source path is ever in a response.
 */

const FORGED_RUNS = 300;
const VALID_RUNS = 200;
const MAX_BODY_BYTES = 16_384;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let providersFile: { path: string; remove(): void };
const agent = new Agent({ keepAliveTimeout: 5000 });

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  providersFile = writeProvidersFile();
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRETS.stripe,
    GITHUB_WEBHOOK_SECRET: SECRETS.github,
    PROVIDERS_FILE: providersFile.path,
    ADMIN_API_TOKEN: SECRETS.admin,
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    // Forged requests are the point here; the per-client limit has its own test.
    VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '1000000',
  });
});

afterAll(async () => {
  await app?.stop();
  await agent.close();
  await ns?.cleanup();
  await db?.drop();
  providersFile?.remove();
});

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Answers seen, by status, per property: a fuzz run that never gets past the first check tests little. */
const seen: Record<string, number> = {};

async function post(path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  const response = await request(`${app.baseUrl}${path}`, { method: 'POST', headers, body, dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
  seen[response.statusCode] = (seen[response.statusCode] ?? 0) + 1;
  return { status: response.statusCode, text: await response.body.text(), headers: response.headers };
}

const storedRows = async () => Number((await db.pool.query('SELECT count(*)::int AS n FROM webhook_events')).rows[0].n);

/** Every answer: no leak, the contract's error shape for errors, security headers. */
function expectWellFormed(answer: Answer): void {
  expect(leaks(answer.text)).toEqual([]);
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['x-powered-by']).toBeUndefined();
  if (answer.status >= 400) {
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    expect(body).toMatchObject({ statusCode: answer.status, path: expect.any(String), message: expect.any(String), correlationId: expect.any(String) });
    expect(Object.keys(body)).toEqual(expect.arrayContaining(['statusCode', 'timestamp', 'path', 'message', 'correlationId', 'traceId']));
  }
}

// ---- arbitraries ------------------------------------------------------------------------------------------------

const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'content-type', 'content-encoding']);
const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,24}$/).filter((name) => !RESERVED_HEADERS.has(name));
/** Header values an HTTP client can send: visible ASCII, spaces and tabs (no CR/LF). */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 200 });
const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((array) => Buffer.from(array).toString('hex'));
const b64 = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((array) => Buffer.from(array).toString('base64'));

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=xyz',
      'application/json; charset=utf-16',
      'application/octet-stream',
      '',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);
/** Mostly none; sometimes an encoding the body does not actually have, or one no parser knows. */
const contentEncoding = fc.oneof(
  { weight: 5, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip', 'compress') },
);

/** Bodies: JSON documents of any shape, Stripe-looking events, text, raw bytes. */
const body = fc.oneof(
  fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')),
  fc
    .record({ id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), type: fc.oneof(fc.string(), fc.constant('invoice.paid')), object: fc.constant('event'), data: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] })
    .map((value) => Buffer.from(JSON.stringify(value))),
  fc.string({ unit: 'binary', maxLength: 300 }).map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 1024 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.alloc(0)),
  fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES * 3 }).map((size) => Buffer.alloc(size, 0x7b)),
);

/** A signature that cannot be valid for the body it is sent with. */
function forgedSignature(provider: Provider, sent: Buffer) {
  const now = Math.floor(Date.now() / 1000);
  const otherBody = Buffer.concat([sent, Buffer.from(' ')]);
  const shapes: Record<Provider, fc.Arbitrary<string>> = {
    stripe: fc.oneof(hex(32).map((v1) => `t=${now},v1=${v1}`), fc.constant(`t=${now - 100_000},v1=`), fc.constant(validSignatureHeaders('stripe', otherBody, '', '')['stripe-signature']!)),
    github: fc.oneof(hex(32).map((digest) => `sha256=${digest}`), fc.constant(validSignatureHeaders('github', otherBody, 'x', 'y')['x-hub-signature-256']!)),
    acme: fc.oneof(b64(32).map((digest) => `v1,${digest}`), fc.constant('v1a,abc v1,')),
    shop: fc.oneof(b64(32), fc.constant(validSignatureHeaders('shop', otherBody, 'x', 'y')['x-shop-hmac']!)),
  };
  return fc.option(fc.oneof(shapes[provider], headerValue), { nil: undefined });
}

const providerPath = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Provider>(...PROVIDERS) },
  { weight: 1, arbitrary: fc.constantFrom('paypal', 'STRIPE', 'stripe%00', '..%2fadmin', 'unknown', '%E2%98%83') },
);

// ---- properties -------------------------------------------------------------------------------------------------

describe('POST /webhooks/{provider} under fuzzing', () => {
  it(`arbitrary headers, bodies, content types and forged signatures: never a 500, never stored, never a leak (${FORGED_RUNS} runs)`, async () => {
    const before = await storedRows();
    for (const key of Object.keys(seen)) delete seen[key];
    await fc.assert(
      fc.asyncProperty(
        providerPath.chain((provider) =>
          fc.record({
            provider: fc.constant(provider),
            contentType,
            contentEncoding,
            extraHeaders: fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
            idHeaders: fc.record({ 'webhook-id': headerValue, 'webhook-timestamp': fc.oneof(headerValue, fc.constant(String(Math.floor(Date.now() / 1000)))), 'x-github-delivery': headerValue, 'x-github-event': headerValue, 'x-shop-id': headerValue, 'x-shop-topic': headerValue }, { requiredKeys: [] }),
            body,
          }).chain((input) => fc.record({ input: fc.constant(input), signature: PROVIDERS.includes(input.provider as Provider) ? forgedSignature(input.provider as Provider, input.body) : fc.constant(undefined) })),
        ),
        async ({ input, signature }) => {
          const headers: Record<string, string> = { ...input.extraHeaders, ...input.idHeaders, 'content-type': input.contentType };
          for (const name of Object.values(SIGNATURE_HEADERS)) delete headers[name];
          if (input.contentEncoding) headers['content-encoding'] = input.contentEncoding;
          if (signature !== undefined && PROVIDERS.includes(input.provider as Provider)) headers[SIGNATURE_HEADERS[input.provider as Provider]] = signature;
          const answer = await post(`/webhooks/${input.provider}`, headers, input.body);
          expect([400, 401, 404, 413, 415]).toContain(answer.status);
          expectWellFormed(answer);
        },
      ),
      { numRuns: FORGED_RUNS, interruptAfterTimeLimit: 40_000 },
    );
    // Nothing that failed verification (or never got that far) left a row behind.
    expect(await storedRows()).toBe(before);
    // The inputs reached every stage: provider lookup, content type, size limit and signature checks.
    expect(seen).toMatchObject({ 401: expect.any(Number), 404: expect.any(Number), 413: expect.any(Number), 415: expect.any(Number) });
    expect(seen[401]!).toBeGreaterThan(FORGED_RUNS / 4);
  });

  it(`a VALID signature over arbitrary JSON: only 202, 200 or 400, and every 2xx is a stored row (${VALID_RUNS} runs)`, async () => {
    for (const key of Object.keys(seen)) delete seen[key];
    const jsonBody = fc.oneof(
      fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }),
      fc.record(
        {
          id: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer(), fc.double(), fc.constant(''), fc.jsonValue({ maxDepth: 1 })),
          type: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('invoice.paid', 'push'), fc.jsonValue({ maxDepth: 1 })),
          action: fc.oneof(fc.string(), fc.integer()),
          data: fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }),
          __proto__: fc.jsonValue({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Provider>(...PROVIDERS),
        jsonBody,
        // Header-borne ids are part of what some schemes sign (Standard Webhooks): a blank one is a missing header
        // (401), and HTTP trims a value's outer whitespace, so the id signed is the trimmed one.
        fc.oneof(headerValue.map((value) => value.trim()).filter((value) => value !== ''), fc.constant(`evt_${randomBytes(4).toString('hex')}`)),
        fc.oneof(headerValue, fc.constant('invoice.paid')),
        fc.constantFrom('application/json', 'application/json; charset=utf-8'),
        async (provider, value, id, type, mediaType) => {
          const raw = Buffer.from(JSON.stringify(value) ?? 'null');
          const answer = await post(`/webhooks/${provider}`, { 'content-type': mediaType, ...validSignatureHeaders(provider, raw, id, type) }, raw);
          expect([200, 202, 400]).toContain(answer.status);
          expectWellFormed(answer);
          if (answer.status !== 400) {
            const json = JSON.parse(answer.text) as { id: string; duplicate: boolean };
            const { rows } = await db.pool.query('SELECT provider FROM webhook_events WHERE id = $1', [json.id]);
            expect(rows).toEqual([{ provider }]);
          }
        },
      ),
      { numRuns: VALID_RUNS, interruptAfterTimeLimit: 40_000 },
    );
    // Both outcomes were exercised: stored events and refused payloads.
    expect(seen[202]!).toBeGreaterThan(VALID_RUNS / 10);
    expect(seen[400]!).toBeGreaterThan(VALID_RUNS / 10);
  });
});
