import { verify as cryptoVerify } from 'node:crypto';
import CRC32 from 'crc-32';
import { isPaddedBase64 } from '../../shared/crypto/base64.js';
import { PaypalCertificateCache, type PaypalCertificateCacheOptions } from './paypal-certificate-cache.js';
import { checkCertificateUrl, parseCertHosts } from './paypal-certificate-url.js';
import type { ReplayKey } from './replay-key.js';
import { parseJsonPayload, requireEventId, requireEventType } from './parse-json-payload.js';
import { WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

/** The verifier's own settings; the certificate download and cache settings (and the clock) are the cache's. */
export interface PaypalVerifierOptions extends PaypalCertificateCacheOptions {
  /** The webhook id PayPal assigned to this endpoint (part of the signed message). */
  webhookId: string;
  /**
   * Allowed `host` / `host:port` entries for PAYPAL-CERT-URL (port 443 when omitted; `*.example.com` matches
   * subdomains; IP literals only when listed exactly). Empty: PayPal's certificate endpoints only (see checkCertificateUrl).
   */
  certHosts?: readonly string[];
  /** When > 0, PAYPAL-TRANSMISSION-TIME must be within this many seconds of now. */
  toleranceSeconds?: number;
  /** Provider name (default 'paypal'). */
  provider?: string;
}

export interface PaypalVerifier extends WebhookVerifier {
  /** Drops every cached certificate. */
  clearCertificateCache(): void;
}

const SUPPORTED_ALGORITHM = 'sha256withrsa';
const MAX_HEADER_FIELD_LENGTH = 255;

/** PayPal: RSA-SHA256 over `{transmissionId}|{transmissionTime}|{webhookId}|{crc32(body)}` with the cert at PAYPAL-CERT-URL. */
export function createPaypalVerifier(options: PaypalVerifierOptions): PaypalVerifier {
  const webhookId = options.webhookId.trim();
  if (webhookId === '') throw new Error('PayPal verifier needs a webhook id');
  const hostRule = parseCertHosts(options.certHosts ?? []);
  const toleranceMs = (options.toleranceSeconds ?? 0) * 1000;
  const now = options.now ?? Date.now;
  const certificates = new PaypalCertificateCache(options);

  return {
    provider: options.provider ?? 'paypal',
    contentTypes: ['application/json'],
    clearCertificateCache(): void {
      certificates.clear();
    },
    async verify(webhook: WebhookRequest): Promise<VerifiedWebhook> {
      const headers = webhook.headers;
      const signature = getHeader(headers, 'paypal-transmission-sig');
      if (signature === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      const transmissionId = getHeader(headers, 'paypal-transmission-id');
      const transmissionTime = getHeader(headers, 'paypal-transmission-time');
      const certUrl = getHeader(headers, 'paypal-cert-url');
      const authAlgo = getHeader(headers, 'paypal-auth-algo');
      if (
        transmissionId === undefined ||
        transmissionTime === undefined ||
        certUrl === undefined ||
        authAlgo === undefined ||
        !isField(transmissionId) ||
        !isField(transmissionTime)
      ) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Missing or malformed PayPal transmission headers');
      }
      if (authAlgo.toLowerCase() !== SUPPORTED_ALGORITHM) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Unsupported PAYPAL-AUTH-ALGO');
      }
      if (toleranceMs > 0) {
        const sentAt = Date.parse(transmissionTime);
        if (Number.isNaN(sentAt)) {
          throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER', 'Malformed PAYPAL-TRANSMISSION-TIME');
        }
        if (Math.abs(now() - sentAt) > toleranceMs) throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE');
      }
      if (!isPaddedBase64(signature)) throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');

      const url = checkCertificateUrl(certUrl, hostRule);
      const certificate = await certificates.get(url, webhook.client);
      const crc = CRC32.buf(webhook.rawBody) >>> 0;
      const message = Buffer.from(`${transmissionId}|${transmissionTime}|${webhookId}|${crc}`, 'utf8');
      let valid: boolean;
      try {
        valid = cryptoVerify('sha256', message, certificate.publicKey, Buffer.from(signature, 'base64'));
      } catch (error) {
        throw new WebhookVerificationError('INVALID_SIGNATURE', undefined, { cause: error });
      }
      if (!valid) throw new WebhookVerificationError('INVALID_SIGNATURE');
      // PayPal's own certificate, proven by its signature: worth sharing with the other processes.
      certificates.remember(url, certificate);

      const payload = parseJsonPayload(webhook.rawBody);
      // The signature binds the body only through CRC32, which anyone can match with another body: a transmission
      // may carry one event, ever (the same delivery re-sent is an ordinary duplicate of it).
      const replayKey: ReplayKey = { key: `transmission:${transmissionId}`, onReuse: 'reject' };
      return {
        externalId: requireEventId(payload['id'], "body field 'id'"),
        eventType: requireEventType(payload['event_type'], "body field 'event_type'"),
        payload,
        replayKey,
      };
    },
  };
}


/** Non-empty, bounded, and free of the `|` separator (so the signed message cannot be re-split). */
function isField(value: string): boolean {
  return value.length <= MAX_HEADER_FIELD_LENGTH && !value.includes('|');
}
