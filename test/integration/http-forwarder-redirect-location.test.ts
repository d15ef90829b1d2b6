import { afterAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile } from '../support/routes-file.js';
import { startInProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase } from '../support/test-database.js';
import { createQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Redirects are not followed (README, Security): the signed body and any credentials must not go to another host. A
 * destination URL that moved (http:// to https://, a missing trailing slash) then fails every attempt with a 3xx,
 * and the error an operator reads must say where it points: it said only `HTTP 301`.
 */
const SECRET = 'whsec_redirect_location';
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a destination answering a redirect', () => {
  it('is not followed, and the attempt error names the Location', async () => {
    const sink = await new HttpSink(() => ({ status: 301, headers: { location: 'https://billing.example/hooks/' }, body: 'Moved Permanently' })).start();
    cleanups.push(() => sink.stop());
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const ns = createQueueNamespace();
    cleanups.push(() => ns.cleanup());
    const routesFile = writeRoutesFile({ destinations: { billing: { url: `${sink.url}/hooks` } }, routes: [{ provider: 'stripe', to: ['billing'] }] });
    cleanups.push(() => routesFile.remove());
    const app = await startInProcessService({
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
      ROUTES_FILE: routesFile.path,
      JOB_ATTEMPTS: '1',
      JOB_BACKOFF_MS: '10',
    });
    cleanups.push(() => app.stop());

    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_redirect_location', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    const row = await waitFor('the event dead-lettered', async () => {
      const { rows } = await db.pool.query<{ status: string; last_error: string }>('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
      return rows[0]?.status === 'DEAD_LETTER' ? rows[0] : undefined;
    });
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect(row.last_error).toContain('HTTP 301 (Location: https://billing.example/hooks/): Moved Permanently');
  }, 60_000);
});
