import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, natsHeaders, uniqueSuffix } from './support/broker-taps.js';

/**
 * The contract says a replay moves the event back to PENDING and "it is processed again"; README: "Replaying a
 * COMPLETED event sends it to every destination again". For a `nats` destination the replay published with the same
 * `Nats-Msg-Id` (`<event id>:<destination>`) as the original, so within the stream's duplicate_window (2 min by
 * default) JetStream stored nothing, answered `duplicate: true`, and the worker recorded the replay's delivery as a
 * plain success (attempt row, metric result="success"): the operator's replay was silently dropped for that
 * destination. The id now names the replay round after the first (`<event id>:<destination>:<n>`).
 *
 * Expected: a COMPLETED event's replay stores a second message in the stream, under the round's id.
 */

const STRIPE_SECRET = 'whsec_nats_replay';
const TOKEN = 'nats-replay-admin-token-0123456789';
const sfx = uniqueSuffix();
const stream = `NATS_REPLAY_${sfx}`;
const subjectPrefix = `nats-replay-${sfx}`;

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
  const body = JSON.stringify({ id: `evt_nats_replay_${sfx}`, object: 'event', type: 'invoice.paid', data: {} });
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
  const stored = (await jetstream.messagesFor(stream, id)).map((message) => natsHeaders(message)['Nats-Msg-Id']);
  expect({ attempts, stored }).toEqual({ attempts: [{ replay: 0, succeeded: true }, { replay: 1, succeeded: true }], stored: [`${id}:stream`, `${id}:stream:1`] });
});
