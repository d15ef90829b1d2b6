/**
 * A resume that lands while an event put off by the pause is still being processed: its run saw the destination
 * paused, and is still busy with another destination (a slow answer here; a wait for a `maxConcurrency` slot or a
 * transform likewise) when the operator resumes. The resume's promotions, at once and 2 s later, skip it (it is not
 * PENDING yet, its job not delayed). Its run then ends, the event waiting for the destination with its job delayed
 * for the paused recheck (PAUSED_RECHECK_MS, about 5 minutes): README says "`…/resume` sends the waiting events at
 * once", and this one went minutes later. Once its job is delayed, a destination it waited for as paused that is no
 * longer paused promotes it, as one behind a circuit whose probe was freed meanwhile is.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_resume_in_flight';
const TOKEN = 'admin-token-resume-in-flight-0123456';
/** How long the other destination takes to answer: longer than the resume's follow-up (2 s) after the resume. */
const SLOW_ANSWER_MS = 5000;
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
const paused = new HttpSink();
const slow = new HttpSink(() => ({ status: 200, delayMs: SLOW_ANSWER_MS }));

type Row = { status: string; attempts: number; held_for: string[] | null };
const rowOf = async (id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT status, attempts, held_for FROM webhook_events WHERE id = $1', [id])).rows[0]!;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await paused.start();
  await slow.start();
  routesFile = writeRoutesFile({
    destinations: { billing: { url: `${paused.url}/in` }, ledger: { url: `${slow.url}/in`, timeoutMs: 20_000 } },
    routes: [{ provider: 'stripe', to: ['billing', 'ledger'] }],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
  });
});

afterAll(async () => {
  await app?.stop();
  await paused.stop();
  await slow.stop();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a resume while a paused delivery\'s event is still being processed', () => {
  it('sends the event to the resumed destination once its run ends, not at the paused recheck minutes later', async () => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/pause')).status).toBe(200);
    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_resume_in_flight', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    // The run is under way: billing was found paused, ledger has the request and answers only after a while.
    await waitFor('the slow destination to have the request', async () => slow.requestsFor(id).length === 1);
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/billing/resume')).status).toBe(200);
    const resumedAt = Date.now();

    // The run ends, the event waiting for billing as it saw it paused...
    await waitFor('the run to end', async () => (await rowOf(id)).status !== 'PROCESSING', { timeoutMs: SLOW_ANSWER_MS + 10_000 });
    // ...and it goes to billing at once, billing being resumed, not minutes later.
    await waitFor('the event delivered to the resumed destination', async () => (await rowOf(id)).status === 'COMPLETED', { timeoutMs: 15_000 });
    expect(Date.now() - resumedAt).toBeLessThan(SLOW_ANSWER_MS + 15_000);
    expect(paused.requestsFor(id)).toHaveLength(1);
    expect(slow.requestsFor(id)).toHaveLength(1);
    expect((await rowOf(id)).attempts).toBe(1);
  });
});
