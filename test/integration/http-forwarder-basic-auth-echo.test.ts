import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService } from '../support/routed-service.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

/**
 * README (Security): every configured secret, a destination URL's credentials included, is replaced by [REDACTED]
 * wherever it appears, "a destination's echoed answer" named, and in the error texts kept in PostgreSQL (each
 * attempt's error and the event's last error, shown by the console and the admin API).
 *
 * A destination URL's user and password are sent as `Authorization: Basic base64(user:password)` (README, HTTP
 * forwarding). Only the password itself (raw, JSON-escaped, percent-encoded) is registered for redaction, never the
 * value actually sent: a destination that echoes the request's Authorization header in its error answer (API gateways
 * and auth proxies commonly do: "invalid credentials: Basic …") has the credentials, base64 away from plain text, kept
 * in the attempt's error and the event's lastError. A static `Authorization: Basic …` header is registered (its value
 * and the credential after the scheme); the one the worker builds from the URL is not.
 *
 * Observed: delivery_attempts.error and webhook_events.last_error hold `Basic ZGVsaXZlcmVyOn…` (decoding to
 * `deliverer:<the password>`).
 */
const SECRET = 'whsec_basic_auth_echo';
const USER = 'deliverer';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a destination echoing the Basic credentials built from its URL in an error answer', () => {
  it('has them redacted in the attempt error and lastError, as the password itself is', async () => {
    const sink = await new HttpSink((request) => ({ status: 401, body: `invalid credentials: ${String(request.headers.authorization)}` })).start();
    cleanups.push(() => sink.stop());
    const url = new URL(`${sink.url}/hooks`);
    url.username = USER;
    url.password = PASSWORD;
    const { db, app, stop } = await startRoutedService(
      { destinations: { vault: { url: url.toString() } }, routes: [{ provider: 'stripe', to: ['vault'] }] },
      { STRIPE_WEBHOOK_SECRET: SECRET, JOB_ATTEMPTS: '1', JOB_BACKOFF_MS: '10' },
    );
    cleanups.push(stop);

    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_basic_auth_echo', type: 'invoice.paid' });
    const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    const row = await waitFor('the event dead-lettered', async () => {
      const { rows } = await db.pool.query<{ status: string; last_error: string }>('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
      return rows[0]?.status === 'DEAD_LETTER' ? rows[0] : undefined;
    });
    const { rows: attempts } = await db.pool.query<{ error: string }>('SELECT error FROM delivery_attempts WHERE event_id = $1', [id]);

    // What the destination was sent, and echoed.
    const sent = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    expect(sink.requestsFor(id)[0]?.headers.authorization).toBe(sent);
    const credential = sent.slice('Basic '.length);
    // The password itself is redacted already; the form it was sent in must be too.
    expect(row.last_error).toContain('invalid credentials: ');
    expect({ lastError: row.last_error.includes(credential), attemptError: attempts[0]!.error.includes(credential) }).toEqual({ lastError: false, attemptError: false });
  }, 60_000);
});
