import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

/**
 * A `nats` destination's message carries a `content-type` header the publisher sets itself. It was laid over the
 * static headers by exact name, so a static `Content-Type` (the usual spelling) went out next to it: a message with
 * two content type headers, of which a consumer reads either. Names are compared case-insensitively now, as for HTTP
 * forwards: the publisher's own header is sent once and the static one, named like it, is left out.
 */

const STRIPE_SECRET = 'whsec_nats_header_case';
const sfx = uniqueSuffix();
const stream = `NATS_HEADER_CASE_${sfx}`;
const subjectPrefix = `nats-header-case-${sfx}`;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routes: TempRoutesFile;
let jetstream: JetStreamTap;

beforeAll(async () => {
  [db, jetstream] = await Promise.all([createTestDatabase(), JetStreamTap.open()]);
  ns = createQueueNamespace();
  await jetstream.createStream(stream, [`${subjectPrefix}.>`]);
  routes = writeRoutesFile({
    destinations: {
      stream: { type: 'nats', url: NATS_URL, subject: `${subjectPrefix}.{provider}`, headers: { 'Content-Type': 'text/plain', 'X-Team': 'billing' } },
    },
    routes: [{ provider: 'stripe', to: ['stream'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routes.path,
  });
});

afterAll(async () => {
  await app?.stop();
  await jetstream?.close();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it('a static Content-Type is not published next to the message content type the publisher sets', async () => {
  const body = JSON.stringify({ id: `evt_nats_header_case_${sfx}`, object: 'event', type: 'invoice.paid', data: {} });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  const id = String(response.json!.id);
  await waitFor('the delivery', async () => (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status === 'COMPLETED');
  const [message] = await jetstream.messagesFor(stream, id);
  const contentTypes = [...(message!.header ?? [])].filter(([name]) => name.toLowerCase() === 'content-type').flatMap(([, values]) => values);
  expect(contentTypes).toEqual(['application/json']);
  // Other static headers still go out.
  expect([...(message!.header ?? [])].find(([name]) => name === 'X-Team')?.[1]).toEqual(['billing']);
});
