import { createHmac } from 'node:crypto';

const EVENT_TYPES = ['invoice.paid', 'charge.succeeded', 'customer.updated', 'payment_intent.succeeded'];

/**
 * Builds Stripe-shaped event bodies of (about) `targetBytes` bytes, differing only in the event id, type and
 * timestamp: the template is made once, each body is three string concatenations.
 */
export function createStripeBodyFactory(targetBytes: number): (id: string, index: number) => string {
  const created = Math.floor(Date.now() / 1000);
  const object = {
    id: 'in_1QbenchInvoice000000000',
    object: 'invoice',
    account_country: 'US',
    amount_due: 4200,
    amount_paid: 4200,
    currency: 'usd',
    customer: 'cus_Qbench0000000001',
    customer_email: 'bench@example.com',
    status: 'paid',
    livemode: false,
    lines: {
      object: 'list',
      data: [
        { id: 'il_1', amount: 2100, currency: 'usd', description: 'Seat license', quantity: 1, period: { start: created - 2_592_000, end: created } },
        { id: 'il_2', amount: 2100, currency: 'usd', description: 'Usage', quantity: 21, period: { start: created - 2_592_000, end: created } },
      ],
      has_more: false,
    },
    metadata: { order_id: 'ord_123456', note: '' },
  };
  const render = (note: string) =>
    JSON.stringify({
      id: '@@ID@@',
      object: 'event',
      api_version: '2024-06-20',
      created,
      type: '@@TYPE@@',
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { ...object, metadata: { ...object.metadata, note } } },
    });
  // Pad the metadata note so that a typical body (id of ~40 chars, the longest type) lands on targetBytes.
  const typical = render('').replace('@@ID@@', 'evt_'.padEnd(40, '0')).replace('@@TYPE@@', 'payment_intent.succeeded');
  const note = 'x'.repeat(Math.max(0, targetBytes - Buffer.byteLength(typical)));
  const [head, afterId] = render(note).split('@@ID@@') as [string, string];
  const [middle, tail] = afterId.split('@@TYPE@@') as [string, string];
  return (id, index) => head + id + middle + EVENT_TYPES[index % EVENT_TYPES.length]! + tail;
}

/** `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, as Stripe signs. */
export function stripeSignatureHeader(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}
