import { createHmac } from 'node:crypto';
import Stripe from 'stripe';

const stripe = new Stripe('sk_test_not_used');

/** A Stripe-Signature header made by Stripe's own library. */
export function stripeSignature(payload: string, secret: string, timestamp?: number): string {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp !== undefined ? { timestamp } : {}) });
}

/** A body and headers for a signed Stripe event. */
export function signedStripeRequest(secret: string, event: { id: string; type?: string; [key: string]: unknown }) {
  const body = JSON.stringify({ object: 'event', type: 'invoice.paid', data: { object: { amount: 4200 } }, ...event });
  return { body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, secret) } };
}

/** GitHub's sha256 signature over raw bytes. */
export function githubSignature(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function postWebhook(baseUrl: string, provider: string, body: string | Buffer, headers: Record<string, string>) {
  const response = await fetch(`${baseUrl}/webhooks/${provider}`, { method: 'POST', body, headers });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}
