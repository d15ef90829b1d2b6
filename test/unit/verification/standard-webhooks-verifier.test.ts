import { describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { createStandardWebhooksVerifier } from '../../../services/ingress/verification/standard-webhooks-verifier.js';
import { decodeStandardWebhookSecret } from '../../../services/shared/standard-webhooks/decode-secret.js';
import { createStandardWebhookSigner, signStandardWebhook } from '../../../services/shared/standard-webhooks/sign.js';
import { rejection, webhookRequest } from './helpers.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER = 'whsec_' + Buffer.from('another secret key of 32 bytes!!').toString('base64');
const TOLERANCE = 300;
const body = JSON.stringify({ type: 'user.created', data: { id: 'u_1', name: 'Zoë' } });
const msgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function libSign(secret: string, id: string, timestamp: number, payload: string): string {
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), payload);
}

function headers(id: string | undefined, timestamp: string | number | undefined, signature: string | undefined) {
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp === undefined ? undefined : String(timestamp),
    'webhook-signature': signature,
  };
}

describe('standard webhooks verifier', () => {
  const verifier = createStandardWebhooksVerifier({ provider: 'acme', secrets: [SECRET], toleranceSeconds: TOLERANCE });

  it('accepts a signature made by the standardwebhooks library', async () => {
    const ts = nowSeconds();
    const result = await verifier.verify(webhookRequest(body, headers(msgId, ts, libSign(SECRET, msgId, ts, body))));
    expect(result).toEqual({ externalId: msgId, eventType: 'user.created', payload: JSON.parse(body) });
    expect(verifier.provider).toBe('acme');
  });

  it('signStandardWebhook output is accepted by the standardwebhooks library', () => {
    const ts = nowSeconds();
    const signature = signStandardWebhook(SECRET, msgId, ts, Buffer.from(body));
    expect(signature).toBe(libSign(SECRET, msgId, ts, body));
    const verified = new Webhook(SECRET).verify(body, headers(msgId, ts, signature) as Record<string, string>);
    expect(verified).toEqual(JSON.parse(body));
    const signer = createStandardWebhookSigner(SECRET);
    expect(signer(msgId, ts, Buffer.from(body))).toBe(signature);
    expect(() => signer(msgId, 1.5, Buffer.from(body))).toThrow(RangeError);
  });

  it('decodes secrets exactly as the reference library does, or refuses them', () => {
    const raw = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(decodeStandardWebhookSecret(SECRET)).toEqual(Buffer.from(raw, 'base64'));
    expect(decodeStandardWebhookSecret(raw)).toEqual(Buffer.from(raw, 'base64'));
    // Every secret read here is read to the same key by the library (unprefixed too).
    const accepted = [SECRET, raw, OTHER, 'whsec_QUJD', 'QUI=', 'whsec_QQ==', Buffer.from('x'.repeat(40)).toString('base64')];
    const ts = nowSeconds();
    for (const secret of accepted) {
      expect(Buffer.from(new Webhook(secret)['key' as keyof Webhook] as unknown as Uint8Array)).toEqual(decodeStandardWebhookSecret(secret));
      expect(signStandardWebhook(secret, msgId, ts, Buffer.from(body))).toBe(libSign(secret, msgId, ts, body));
    }
    // Anything another reader could take another way is refused: plain text (once used as UTF-8 bytes here, while
    // the library base64-decodes it), unpadded or URL-safe base64, a lone prefix, nothing.
    for (const secret of ['not base64!', 'my-plain-secret', 'whsec_***', 'QUJDRA', 'whsec_QUJDRA', 'ab-_cd==', 'whsec_', '', 'QUJDR']) {
      expect(() => decodeStandardWebhookSecret(secret)).toThrow(/Standard Webhooks secret/);
    }
  });

  it('accepts any of several space-separated signatures and ignores other versions', async () => {
    const ts = nowSeconds();
    const good = libSign(SECRET, msgId, ts, body);
    const bad = libSign(OTHER, msgId, ts, body);
    const header = `v1a,${Buffer.alloc(64).toString('base64')} ${bad} ${good}`;
    await expect(verifier.verify(webhookRequest(body, headers(msgId, ts, header)))).resolves.toMatchObject({ externalId: msgId });
  });

  it('supports secret rotation', async () => {
    const ts = nowSeconds();
    const rotating = createStandardWebhooksVerifier({ provider: 'acme', secrets: [OTHER, SECRET], toleranceSeconds: TOLERANCE });
    await expect(rotating.verify(webhookRequest(body, headers(msgId, ts, libSign(SECRET, msgId, ts, body))))).resolves.toBeDefined();
    await expect(rotating.verify(webhookRequest(body, headers(msgId, ts, libSign(OTHER, msgId, ts, body))))).resolves.toBeDefined();
  });

  it('rejects tampering with the body, the id or the timestamp', async () => {
    const ts = nowSeconds();
    const signature = libSign(SECRET, msgId, ts, body);
    expect(await rejection(verifier, webhookRequest(`${body} `, headers(msgId, ts, signature)))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(body, headers('msg_other', ts, signature)))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts - 1, signature)))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts, libSign(OTHER, msgId, ts, body))))).toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });

  it('rejects timestamps outside the tolerance in both directions', async () => {
    for (const ts of [nowSeconds() - TOLERANCE - 5, nowSeconds() + TOLERANCE + 5]) {
      expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts, libSign(SECRET, msgId, ts, body))))).toMatchObject({
        code: 'TIMESTAMP_OUT_OF_TOLERANCE',
      });
    }
  });

  it('rejects missing and malformed headers', async () => {
    const ts = nowSeconds();
    const signature = libSign(SECRET, msgId, ts, body);
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts, undefined)))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(body, headers(undefined, ts, signature)))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, undefined, signature)))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, 'soon', signature)))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts, 'v2,abc')))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(body, headers(msgId, ts, 'v1,!!!')))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('takes the type from `type`, else `event_type`, else answers a payload error', async () => {
    const ts = nowSeconds();
    const alt = JSON.stringify({ event_type: 'order.paid' });
    await expect(verifier.verify(webhookRequest(alt, headers(msgId, ts, libSign(SECRET, msgId, ts, alt))))).resolves.toMatchObject({
      eventType: 'order.paid',
    });
    const none = JSON.stringify({ data: {} });
    expect(await rejection(verifier, webhookRequest(none, headers(msgId, ts, libSign(SECRET, msgId, ts, none))))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_TYPE',
    });
    const longId = 'm'.repeat(300);
    expect(await rejection(verifier, webhookRequest(body, headers(longId, ts, libSign(SECRET, longId, ts, body))))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_ID',
    });
  });
});
