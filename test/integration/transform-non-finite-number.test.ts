import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// A transform whose result holds a number JSON cannot carry (Infinity or NaN: a division by a payload's zero) is a
// transform that failed for this event (README, Routing: "A transform that fails for an event … is a failed attempt
// with JSONata's error in lastError"; JSONata itself refuses to serialise them: `$string(1/0)` is error D3001). The
// worker's JSON.stringify turns them into `null` instead, and the event is COMPLETED with a body that says the value
// is null: the consumer gets wrong data, and nothing records that anything went wrong.

const STRIPE_SECRET = 'whsec_non_finite_test';
const sfx = uniqueSuffix();
const names = { stream: `NONFINITE_${sfx}`, subjectPrefix: `nonfinite-${sfx}` };

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
let jetstream: JetStreamTap;

beforeAll(async () => {
  [db, jetstream] = await Promise.all([createTestDatabase(), JetStreamTap.open()]);
  ns = createQueueNamespace();
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  routesFile = writeRoutesFile({
    destinations: { stream: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{eventType}` } },
    routes: [{ provider: 'stripe', transform: '{ "id": id, "unitPrice": data.object.amount / data.object.quantity }', to: ['stream'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routesFile.path,
    JOB_ATTEMPTS: '2',
    JOB_BACKOFF_MS: '20',
  });
});

afterAll(async () => {
  await app?.stop();
  await jetstream?.close();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a transform whose result is a number JSON cannot carry', () => {
  it('(a division by zero: Infinity) is a failed transform, not a message saying null', async () => {
    const body = JSON.stringify({ id: `evt_nonfinite_${sfx}`, object: 'event', type: 'charge.succeeded', data: { object: { amount: 1200, quantity: 0 } } });
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    const row = await waitFor(`event ${id} to end`, async () => {
      const { rows } = await db.pool.query('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
      return ['COMPLETED', 'DEAD_LETTER'].includes(rows[0]?.status) ? (rows[0] as { status: string; last_error: string | null }) : undefined;
    });
    const stored = (await jetstream.messagesFor(names.stream, id)).map((message) => Buffer.from(message.data).toString('utf8'));
    // What happens: COMPLETED, and the stream holds {"id":"evt_…","unitPrice":null}.
    expect({ stored, status: row.status }).toEqual({ stored: [], status: 'DEAD_LETTER' });
    expect(row.last_error).toMatch(/^stream: transform of routes\.0 failed: /);
  });
});
