import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { metricsByOutcome, metricValue, open, portOf, signedStripeHead } from '../support/raw-http.js';
import { SECRETS } from './support/signers.js';

/**
 * The webhooks' direct path (runtime/webhook-fast-path.ts, `/webhooks/stripe`) against the Express route
 * (`/webhooks/stripe/` goes there): the same logical request is counted, timed and logged the same either way.
 */

let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({ STRIPE_WEBHOOK_SECRET: SECRETS.stripe, MAX_BODY_BYTES: '4096', VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '100000' });
});

afterAll(async () => {
  await app?.stop();
});

describe('direct path and Express route: the same logical request is counted and timed the same', () => {
  it('counts a webhook aborted mid-body the same on both paths (before: invalid_payload on Express, nothing on the direct path)', async () => {
    const received = /^webhook_events_received_total\{provider="stripe",/;
    const deltas: Record<string, string> = {};
    for (const path of ['/webhooks/stripe', '/webhooks/stripe/']) {
      const before = await metricsByOutcome(app, received);
      const body = JSON.stringify({ id: `evt_abort_${path.length}`, type: 'invoice.paid', data: {} });
      const { socket } = open(portOf(app));
      socket.write(signedStripeHead(path, body, SECRETS.stripe) + body.slice(0, 10));
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await metricsByOutcome(app, received);
      deltas[path] = Object.keys(after).filter((key) => after[key] !== before[key]).map((key) => `${key}+${after[key]! - (before[key] ?? 0)}`).join(',');
    }
    // No webhook was received: counted under no outcome (the contract's list has no `aborted`), logged at debug.
    expect(deltas).toEqual({ '/webhooks/stripe': '', '/webhooks/stripe/': '' });
  });

  it("times a refused webhook from its first byte on both paths (before: the direct path's hand-back restarted the clock)", async () => {
    const unauthorized = /^http_request_duration_seconds_sum\{method="POST",route="\/webhooks\/:provider",status_code="401"\}/;
    const PAUSE_MS = 1500;
    const seconds: Record<string, number> = {};
    for (const path of ['/webhooks/stripe', '/webhooks/stripe/']) {
      const before = await metricValue(app, unauthorized);
      const body = JSON.stringify({ id: 'evt_forged_slow', type: 'invoice.paid' });
      const { socket, state, waitFor } = open(portOf(app));
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      socket.write(body.slice(10));
      await waitFor(() => state.raw.includes('\r\n\r\n'), 15_000);
      socket.destroy();
      seconds[path] = (await metricValue(app, unauthorized)) - before;
    }
    // The server's clock starts when it has read the head, which a loaded machine can do a while after the client
    // wrote it (the pause then looks shorter to the server); a clock restarted at the hand-back, once the body is in,
    // reads a few ms. Half the pause tells the two apart with room for that.
    expect(seconds['/webhooks/stripe/']).toBeGreaterThan(PAUSE_MS / 2 / 1000);
    expect(seconds['/webhooks/stripe']).toBeGreaterThan(PAUSE_MS / 2 / 1000);
  });

  it('counts a 415 the same whether the content type or the content encoding is refused: unsupported_media_type (before: invalid_payload for the encoding)', async () => {
    const received = /^webhook_events_received_total\{provider="stripe",/;
    const deltas: Record<string, string> = {};
    for (const [name, headers] of [
      ['content type', { 'content-type': 'text/html' }],
      ['content encoding', { 'content-type': 'application/json', 'content-encoding': 'compress' }],
    ] as const) {
      const before = await metricsByOutcome(app, received);
      const answer = await fetch(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', body: '{"id":"evt_415"}', headers: { ...headers, 'stripe-signature': 't=1,v1=00' } });
      await answer.text();
      const after = await metricsByOutcome(app, received);
      deltas[name] = `${answer.status} ` + Object.keys(after).filter((key) => after[key] !== before[key]).map((key) => `${key}+${after[key]! - (before[key] ?? 0)}`).join(',');
    }
    expect(deltas).toEqual({ 'content type': '415 unsupported_media_type+1', 'content encoding': '415 unsupported_media_type+1' });
  });
});
