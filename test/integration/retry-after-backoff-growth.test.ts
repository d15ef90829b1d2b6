import { afterAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService } from '../support/routed-service.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

/**
 * README: on a 429 or 503 "the next attempt is not made before the Retry-After time …, even if the backoff would be
 * sooner" — a Retry-After can only push an attempt later than the exponential backoff, never earlier.
 *
 * The worker waits out a Retry-After by moving the job to BullMQ's delayed set itself (job.moveToDelayed +
 * DelayedError), which does not advance BullMQ's attemptsMade. Every later backoff (and the worker's own
 * shortestBackoff comparison) is then computed as if the event were on its first retry: a destination answering
 * `429 Retry-After: 1` gets an attempt every second, and the event is dead-lettered after JOB_ATTEMPTS seconds instead
 * of after the exponential backoff (1, 2, 4, … × JOB_BACKOFF_MS; with the defaults 8 attempts span ~1–2 min, here ~8 s).
 */
const SECRET = 'whsec_retry_after_growth';
const BACKOFF_MS = 1000;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Retry-After shorter than the backoff', () => {
  it('does not stop the exponential backoff from growing: the 4th attempt comes at least 2 × JOB_BACKOFF_MS after the 3rd', async () => {
    // Always rate limited, asking for 1 s: no sooner than that, and no sooner than the backoff either.
    const sink = await new HttpSink(() => ({ status: 429, headers: { 'retry-after': '1' } })).start();
    cleanups.push(() => sink.stop());
    const { db, app, stop } = await startRoutedService(
      { destinations: { limited: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['limited'] }] },
      { STRIPE_WEBHOOK_SECRET: SECRET, JOB_ATTEMPTS: '4', JOB_BACKOFF_MS: String(BACKOFF_MS) },
    );
    cleanups.push(stop);

    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_retry_after_growth', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    await waitFor('dead-lettered after 4 attempts', async () => {
      const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id]);
      return rows[0]?.status === 'DEAD_LETTER';
    }, { timeoutMs: 30_000 });

    const at = sink.requestsFor(id).map((request) => request.at);
    expect(at).toHaveLength(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // BullMQ's exponential backoff with jitter 0.5 before retry n is BACKOFF_MS × 2^(n-1) × [0.5, 1]: the gap before
    // the 3rd attempt at least 1 s, before the 4th at least 2 s; each also at least the Retry-After (1 s).
    // Observed: about [1000, 1000, 1000] — every retry at the Retry-After, the backoff never growing.
    expect(gaps[1]).toBeGreaterThanOrEqual(BACKOFF_MS - 50);
    expect(gaps[2]).toBeGreaterThanOrEqual(2 * BACKOFF_MS - 50);
  });
});
