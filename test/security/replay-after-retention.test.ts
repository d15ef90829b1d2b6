/**
 * GitHub (and `hmac` providers taking the id from a header) sign the body only, with no timestamp: the one thing
 * that keeps a captured delivery (body + X-Hub-Signature-256, as shown on the repository's "Recent deliveries" page)
 * from becoming a new event is the stored body digest (replay_key). Retention deletes COMPLETED rows after
 * RETENTION_COMPLETED_DAYS, replay key included, so from then on the same captured delivery is accepted as a NEW
 * event (202) and delivered again. Stripe, PayPal and Standard Webhooks are not affected: their signed timestamp
 * is far outside the tolerance by then.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const GITHUB_SECRET = 'retention-replay-github-secret';
const RETENTION_DAYS = 30;

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
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
  });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
});

const silent = { info() {}, warn() {} } as unknown as ConstructorParameters<typeof Retention>[0]['logger'];

describe('GitHub: a captured delivery stays a duplicate after retention', () => {
  it('re-sent after its event was completed and removed by retention, it is not a new event', async () => {
    const body = JSON.stringify({ action: 'created', sponsorship: { tier: { monthly_price_in_dollars: 100 } }, nonce: randomUUID() });
    const headers = (delivery: string) => ({
      'content-type': 'application/json',
      'x-github-event': 'sponsorship',
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    const first = await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()));
    expect(first.status).toBe(202);
    // Sanity: while the row exists, the replay is a duplicate.
    expect((await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()))).status).toBe(200);

    // The event was delivered and completed RETENTION_DAYS + 1 days ago; one real retention pass removes it.
    await db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() - make_interval(days => $2) WHERE id = $1`, [
      first.json!.id,
      RETENTION_DAYS + 1,
    ]);
    const deleted = await new Retention({ pool: db.pool, completedDays: RETENTION_DAYS, intervalMs: 3_600_000, logger: silent }).runOnce();
    expect(deleted).toBe(1);

    // The captured delivery, re-sent (a new delivery id, or the original one).
    const replayed = await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()));
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE provider = 'github' AND status = 'PENDING'`);
    // Observed today: 202 {"duplicate":false} and a new PENDING row, which the worker delivers again.
    expect({ acceptedAsNewEvent: replayed.status === 202, pendingRows: rows[0]!.n }).toEqual({ acceptedAsNewEvent: false, pendingRows: 0 });
  });
});
