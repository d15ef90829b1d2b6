/**
 * Form-encoded GitHub deliveries (`payload=<json>`): forwarded as received by default, which the standardwebhooks
 * libraries cannot verify (they JSON-parse the body); with `transform: '$'` on the route the destination gets the
 * JSON payload, signed over those bytes, and verifies it with the library.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const GITHUB_SECRET = 'form-forward-github-secret';
const DESTINATION_SECRET = `whsec_${Buffer.from('form-forward-destination-secret!!').toString('base64')}`;
let db: TestDatabase;
let ns: TestQueueNamespace;
let sink: HttpSink;
let routes: TempRoutesFile;
let app: InProcessService;

beforeAll(async () => {
  [db, sink] = await Promise.all([createTestDatabase(), new HttpSink().start()]);
  ns = createQueueNamespace();
  routes = writeRoutesFile({
    destinations: {
      asReceived: { url: `${sink.url}/as-received`, secret: DESTINATION_SECRET },
      asJson: { url: `${sink.url}/as-json`, secret: DESTINATION_SECRET },
    },
    routes: [
      { provider: 'github', to: ['asReceived'] },
      { provider: 'github', transform: '$', to: ['asJson'] },
    ],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    ROUTES_FILE: routes.path,
  });
});

afterAll(async () => {
  await app?.stop();
  await sink?.stop();
  await ns?.cleanup();
  await db?.drop();
  routes?.remove();
});

describe('a form-encoded GitHub delivery', () => {
  it("reaches a `transform: '$'` route's destination as JSON the standardwebhooks library verifies", async () => {
    const payload = { action: 'opened', issue: { number: 12, title: 'Grüße & more' }, repository: { full_name: 'o/r' } };
    const form = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const answer = await postWebhook(app.baseUrl, 'github', form, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-hub-signature-256': githubSignature(form, GITHUB_SECRET),
      'x-github-delivery': 'form-delivery-1',
      'x-github-event': 'issues',
    });
    expect(answer.status).toBe(202);
    await waitFor('both destinations served', () => sink.requests.length >= 2);
    const byPath = Object.fromEntries(sink.requests.map((request) => [request.path, request]));
    const webhook = new Webhook(DESTINATION_SECRET);
    const headersOf = (path: string) => byPath[path]!.headers as Record<string, string>;

    // As received: the form bytes, signed; the library cannot parse them.
    expect(byPath['/as-received']!.body.toString()).toBe(form);
    expect(() => webhook.verify(byPath['/as-received']!.body.toString(), headersOf('/as-received'))).toThrow();

    // As JSON: the payload, signed over exactly those bytes, verified by the library.
    expect(headersOf('/as-json')['content-type']).toContain('application/json');
    expect(webhook.verify(byPath['/as-json']!.body.toString(), headersOf('/as-json'))).toEqual(payload);
  });
});
