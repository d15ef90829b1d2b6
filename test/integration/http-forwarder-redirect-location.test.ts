import { afterAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService } from '../support/routed-service.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
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
    const { db, app, stop } = await startRoutedService(
      { destinations: { billing: { url: `${sink.url}/hooks` } }, routes: [{ provider: 'stripe', to: ['billing'] }] },
      { STRIPE_WEBHOOK_SECRET: SECRET, JOB_ATTEMPTS: '1', JOB_BACKOFF_MS: '10' },
    );
    cleanups.push(stop);

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
