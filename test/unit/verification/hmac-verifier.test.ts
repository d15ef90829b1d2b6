import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { createHmacVerifier } from '../../../services/ingress/verification/hmac-verifier.js';
import { rejection, webhookRequest } from './helpers.js';

const SECRET = 'shpss_0123456789abcdef';
const body = JSON.stringify({ id: 820982911946154500, data: { event: { id: 'e-1', kind: 'order.created' } }, type: 'orders/create' });

function digest(algorithm: string, secret: string, payload: string, encoding: 'hex' | 'base64'): string {
  return createHmac(algorithm, secret).update(payload).digest(encoding);
}

describe('generic hmac verifier', () => {
  it('verifies a base64 signature with id/type from headers (Shopify style)', async () => {
    const verifier = createHmacVerifier({
      provider: 'shop',
      header: 'X-Shopify-Hmac-Sha256',
      algorithm: 'sha256',
      encoding: 'base64',
      secrets: [SECRET],
      idHeader: 'X-Shopify-Webhook-Id',
      typeHeader: 'X-Shopify-Topic',
    });
    const result = await verifier.verify(
      webhookRequest(body, {
        'x-shopify-hmac-sha256': digest('sha256', SECRET, body, 'base64'),
        'x-shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
        'x-shopify-topic': 'orders/create',
      }),
    );
    expect(result).toEqual({
      externalId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      eventType: 'orders/create',
      payload: JSON.parse(body),
      // The id comes from an unsigned header: the body's digest deduplicates a re-sent body.
      replayKey: { key: `sha256:${createHash('sha256').update(body).digest('hex')}`, onReuse: 'duplicate' },
    });
    expect(await rejection(verifier, webhookRequest(body, { 'x-shopify-hmac-sha256': digest('sha256', SECRET, body, 'base64') }))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_ID',
    });
    expect(
      await rejection(verifier, webhookRequest(`${body} `, { 'x-shopify-hmac-sha256': digest('sha256', SECRET, body, 'base64') })),
    ).toMatchObject({ kind: 'verification', code: 'INVALID_SIGNATURE' });
  });

  it('verifies a prefixed hex signature with id/type from body dot paths', async () => {
    const verifier = createHmacVerifier({
      provider: 'acme',
      header: 'x-acme-signature',
      algorithm: 'sha512',
      encoding: 'hex',
      prefix: 'sha512=',
      secrets: ['old', SECRET],
      idField: 'data.event.id',
      typeField: 'data.event.kind',
    });
    const signature = `sha512=${digest('sha512', SECRET, body, 'hex')}`;
    await expect(verifier.verify(webhookRequest(body, { 'x-acme-signature': signature }))).resolves.toMatchObject({
      externalId: 'e-1',
      eventType: 'order.created',
    });
    await expect(verifier.verify(webhookRequest(body, { 'x-acme-signature': signature.toUpperCase() }))).resolves.toBeDefined();
    expect(await rejection(verifier, webhookRequest(body, { 'x-acme-signature': digest('sha512', SECRET, body, 'hex') }))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(await rejection(verifier, webhookRequest(body, {}))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    expect(
      await rejection(verifier, webhookRequest(body, { 'x-acme-signature': `sha512=${digest('sha256', SECRET, body, 'hex')}` })),
    ).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('uses body id/type by default and converts numeric ids to strings', async () => {
    const verifier = createHmacVerifier({ provider: 'x', header: 'x-sig', algorithm: 'sha1', encoding: 'hex', secrets: [SECRET] });
    const small = JSON.stringify({ id: 12345, type: 'thing.happened' });
    await expect(verifier.verify(webhookRequest(small, { 'x-sig': digest('sha1', SECRET, small, 'hex') }))).resolves.toEqual({
      externalId: '12345',
      eventType: 'thing.happened',
      payload: { id: 12345, type: 'thing.happened' },
      // No timestamp bounds a replay: the body's digest is kept, also after retention (as a tombstone).
      replayKey: { key: `sha256:${createHash('sha256').update(small).digest('hex')}`, onReuse: 'duplicate' },
    });
    const noType = JSON.stringify({ id: 'a' });
    expect(await rejection(verifier, webhookRequest(noType, { 'x-sig': digest('sha1', SECRET, noType, 'hex') }))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_TYPE',
    });
  });

  it('accepts base64 without padding and rejects truncated or padded-garbage signatures', async () => {
    const verifier = createHmacVerifier({ provider: 'x', header: 'x-sig', algorithm: 'sha256', encoding: 'base64', secrets: [SECRET] });
    const small = JSON.stringify({ id: 'a', type: 't' });
    const b64 = digest('sha256', SECRET, small, 'base64');
    await expect(verifier.verify(webhookRequest(small, { 'x-sig': b64.replace(/=+$/, '') }))).resolves.toBeDefined();
    expect(await rejection(verifier, webhookRequest(small, { 'x-sig': b64.slice(0, 20) }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(small, { 'x-sig': `${b64}AAAA` }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });
});
