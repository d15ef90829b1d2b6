import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

/**
 * REVIEW REPRODUCTION (rev-worker): the contract says a replay moves the event back to PENDING and "it is processed
 * again"; README: "Replaying a COMPLETED event sends it to every destination again". For a `nats` destination the
 * replay publishes with the same `Nats-Msg-Id` (`<event id>:<destination>`) as the original, so within the stream's
 * duplicate_window (2 min by default) JetStream stores nothing, answers `duplicate: true`, and the worker records the
 * replay's delivery as a plain success (attempt row, metric result="success"): the operator's replay is silently
 * dropped for that destination. (README's broker section documents this; it contradicts the replay contract, and the
 * ack's `duplicate` flag is not even recorded.)
 *
 * Expected: a COMPLETED event's replay stores a second message in the stream (or the attempt is not a success).
 */

const STRIPE_SECRET = 'whsec_rev_nats';
const TOKEN = 'rev-nats-admin-token-0123456789';
const sfx = uniqueSuffix();
const stream = `REV_NATS_${sfx}`;
const subjectPrefix = `rev-nats-${sfx}`;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routes: TempRoutesFile;
let jetstream: JetStreamTap;

beforeAll(async () => {
  [db, jetstream] = await Promise.all([createTestDatabase(), JetStreamTap.open()]);
  ns = createQueueNamespace();
  await jetstream.createStream(stream, [`${subjectPrefix}.>`]); // duplicate_window 2 min (NATS's default)
  routes = writeRoutesFile({
    destinations: { stream: { type: 'nats', url: NATS_URL, subject: `${subjectPrefix}.{provider}.{eventType}` } },
    routes: [{ provider: 'stripe', to: ['stream'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ROUTES_FILE: routes.path,
    ADMIN_API_TOKEN: TOKEN,
    JOB_BACKOFF_MS: '20',
  });
});

afterAll(async () => {
  await app?.stop();
  await jetstream?.close();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

const statusOf = async (id: string) => (await db.pool.query<{ status: string; replays: number }>('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0];

it('replaying a COMPLETED event within the duplicate window stores the replay in the stream', async () => {
  const body = JSON.stringify({ id: `evt_rev_nats_${sfx}`, object: 'event', type: 'invoice.paid', data: {} });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  const id = String(response.json!.id);
  await waitFor('first delivery', async () => (await statusOf(id))?.status === 'COMPLETED');
  expect(await jetstream.messagesFor(stream, id)).toHaveLength(1);

  expect((await adminRequest(app.baseUrl, TOKEN, 'POST', `/admin/events/${id}/replay`)).status).toBe(202);
  await waitFor('the replay to complete', async () => {
    const row = await statusOf(id);
    return row?.status === 'COMPLETED' && row.replays === 1;
  });
  const attempts = (await db.pool.query('SELECT replay, succeeded FROM delivery_attempts WHERE event_id = $1 ORDER BY at', [id])).rows;
  const stored = (await jetstream.messagesFor(stream, id)).length;
  expect({ attempts, stored }).toEqual({ attempts: [{ replay: 0, succeeded: true }, { replay: 1, succeeded: true }], stored: 2 });
});
