/**
 * A correctly signed event carrying an integer beyond 2^53 (an account number, a snowflake id), through a route whose
 * transform copies it: `{ "account": data.object.account }`.
 *
 * The payload is read back from jsonb by node-pg's JSON.parse, so the transform sees the nearest double, and the
 * worker sends that: the consumer gets another number than the provider sent, and nothing records it. The same
 * reasoning that made a transform yielding Infinity / NaN a failed attempt instead of a silent `null`
 * (transform-non-finite-number.test.ts, README "Transforms") applies; the console already shows such numbers as sent
 * (README, "An event").
 *
 * Observed on main (4221a33), Stripe-signed body with "account":12345678901234567891 and "ledger":9007199254740993:
 * the event is COMPLETED and the destination receives {"account":12345678901234567000,"ledger":9007199254740992}
 * (off by 891 and by 1); lastError is null.
 *
 * Expected: the numbers arrive as sent, or the attempt fails with an error saying the payload holds a number the
 * transform cannot carry exactly (nothing sent).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_hostile_big_integer';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
const sink = new HttpSink();

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({
    destinations: { ledger: { url: `${sink.url}/ledger` } },
    routes: [{ provider: 'stripe', events: ['charge.*'], transform: '{ "account": data.object.account, "ledger": data.object.ledger }', to: ['ledger'] }],
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
  await sink.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a transform over integers beyond 2^53', () => {
  it('sends them as sent, or fails the attempt: never another number', async () => {
    const body = `{"id":"evt_big_integer_${Date.now()}","object":"event","type":"charge.succeeded","data":{"object":{"account":12345678901234567891,"ledger":9007199254740993}}}`;
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    const final = await waitFor(`event ${id} to finish`, async () => {
      const { rows } = await db.pool.query('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
      const row = rows[0] as { status: string; last_error: string | null } | undefined;
      return row && (row.status === 'COMPLETED' || row.status === 'DEAD_LETTER') ? row : undefined;
    });
    const sent = sink.requestsFor(id).map((request) => request.body.toString('utf8'));
    if (final.status === 'COMPLETED') {
      expect(sent).toEqual(['{"account":12345678901234567891,"ledger":9007199254740993}']);
    } else {
      // Refused as a failed attempt: nothing sent, and the reason recorded.
      expect(sent).toEqual([]);
      expect(final.last_error).toEqual(expect.any(String));
    }
  });
});
