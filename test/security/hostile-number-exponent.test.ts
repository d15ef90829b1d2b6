/**
 * A correctly signed event whose numbers carry huge exponents (`1e131071`, 9 bytes in the body each).
 *
 * The ingress stores the payload as PostgreSQL's own jsonb parse of the raw body (event-writer.ts,
 * payloadFromRawBody) when the body has no `\u` escape. jsonb keeps such a number as an exact numeric: 30 bytes on
 * disk, but written back as text (every read of `payload`: node-pg asks for jsonb as text) it is the number's full
 * decimal expansion, 131,072 characters. So a 90 KB body holding 9,000 of them is accepted (202) and then can no
 * longer be read: `SELECT payload` needs more than PostgreSQL's 1 GB string limit.
 *
 * Observed on main (4221a33), 9,000 numbers, 90,058-byte body, Stripe-signed, answered 202:
 * - `length(payload::text)` fails with `out of memory` ("Cannot enlarge string buffer containing 1073627135 bytes by
 *   131072 more bytes"): each try has PostgreSQL build a string of about 1 GB before it gives up;
 * - GET /admin/events/:id answers 500 for the event (the console can show neither its payload nor its raw body);
 * - a route with a filter on `body.data.object.amount` (the payload is read for it, route-input-reader.ts) fails
 *   every attempt with an internal error and the event ends DEAD_LETTER; nothing is delivered, although the event's
 *   amount (1500) passes the filter.
 * With fewer such numbers the read succeeds but ships 131 KB of digits per 9 bytes of body to the worker (1,000 of
 * them: a 131 MB string parsed by JSON.parse on every attempt that reads the payload).
 *
 * Expected: the event is stored so that it can be read and delivered (the number kept as JavaScript read it, or as
 * sent but not expanded), or the body is refused with a 4xx and nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_hostile_number_exponent';
const ADMIN_TOKEN = 'hostile-number-exponent-admin-token';
/** 9 bytes in the body each; 131,072 characters each in jsonb's text output. */
const HUGE_NUMBER = '1e131071';
const COUNT = 9_000;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
const sink = new HttpSink();

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  routesFile = writeRoutesFile({
    destinations: { billing: { url: `${sink.url}/billing` } },
    routes: [{ provider: 'stripe', events: ['charge.*'], filter: { 'body.data.object.amount': { $gte: 1000 } }, to: ['billing'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
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

let eventId: string | undefined;

describe('a signed event with numbers of huge exponent', () => {
  it('is delivered through a route with a filter once accepted (or refused with a 4xx, nothing stored)', async () => {
    const externalId = `evt_huge_exponent_${Date.now()}`;
    const pad = `[${Array.from({ length: COUNT }, () => HUGE_NUMBER).join(',')}]`;
    const body = `{"id":"${externalId}","object":"event","type":"charge.succeeded","data":{"object":{"amount":1500,"currency":"eur"}},"pad":${pad}}`;
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    if (response.status >= 400 && response.status < 500) {
      // Refused: fine, as long as nothing was stored.
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM webhook_events');
      expect(rows[0].n).toBe(0);
      return;
    }
    expect(response.status).toBe(202);
    const id = (eventId = String(response.json!.id));

    const final = await waitFor(
      `event ${id} to finish`,
      async () => {
        const { rows } = await db.pool.query('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
        const row = rows[0] as { status: string; last_error: string | null } | undefined;
        return row && (row.status === 'COMPLETED' || row.status === 'DEAD_LETTER') ? row : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(final).toEqual({ status: 'COMPLETED', last_error: null });
    expect(sink.requestsFor(id)).toHaveLength(1);
  }, 120_000);

  it('can be looked at in the admin API once accepted', async () => {
    if (eventId === undefined) return; // refused, or not stored: nothing to look at
    const detail = await adminRequest(app.baseUrl, ADMIN_TOKEN, 'GET', `/admin/events/${eventId}`);
    expect(detail.status).toBe(200);
    expect(detail.json.body).toBeDefined();
  }, 60_000);
});
