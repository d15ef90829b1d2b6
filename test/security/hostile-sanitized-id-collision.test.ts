/**
 * Event ids that differ only in a character PostgreSQL cannot store: a NUL or a lone surrogate (`\u0000`, `\ud800`,
 * `\udfff`, sent as JSON escapes in a correctly signed body). parseJsonPayload replaces each by U+FFFD *before* the
 * verifier reads the id (parse-json-payload.ts, sanitizeInPlace), so distinct ids become one id, and the unique
 * (provider, external_id) key makes every event after the first a "duplicate" of it.
 *
 * Observed on main (4221a33), Stripe-signed, one body each:
 *   {"id":"evt_<n>_\u0000", …} → 202, stored with external_id "evt_<n>_\uFFFD"
 *   {"id":"evt_<n>_\ud800", …} → 200 {"duplicate":true, "id": <the first event's id>}
 *   {"id":"evt_<n>_\udfff", …} → 200 {"duplicate":true, "id": <the first event's id>}
 *   {"id":"evt_<n>_\uFFFD" (the character itself), …} → 200 duplicate as well
 * Four different events, three of them acknowledged (so the sender never retries them) and never stored or
 * delivered: 1 row in webhook_events, 4 expected (or a 4xx for the ids that cannot be stored as sent, nothing stored).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const STRIPE_SECRET = 'whsec_sanitized_id_collision';

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('signed events whose ids differ only in a NUL or a lone surrogate', () => {
  it('are each stored, or refused with a 4xx: never acknowledged as a duplicate of another event', async () => {
    const base = `evt_collide_${Date.now()}_`;
    // JSON text of each id's last character: three escapes PostgreSQL cannot store, and U+FFFD itself.
    const lastCharacters = ['\\u0000', '\\ud800', '\\udfff', '\uFFFD'];
    const answers: { status: number; duplicate: unknown; id: unknown }[] = [];
    for (const [index, last] of lastCharacters.entries()) {
      const body = `{"id":"${base}${last}","object":"event","type":"charge.succeeded","n":${index}}`;
      const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      answers.push({ status: response.status, duplicate: response.json?.duplicate, id: response.json?.id });
    }
    const accepted = answers.filter((answer) => answer.status === 202);
    const refused = answers.filter((answer) => answer.status >= 400 && answer.status < 500);
    // None was taken for another: each is a new event (202) or refused (4xx).
    expect(answers.filter((answer) => answer.status === 200)).toEqual([]);
    expect(accepted.length + refused.length).toBe(lastCharacters.length);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM webhook_events WHERE external_id LIKE $1', [`${base}%`]);
    expect(rows[0].n).toBe(accepted.length);
  });
});
