import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { bodyDigestReplayKey } from './replay-key.js';
import { parseJsonPayload, requireEventId, requireEventType, type JsonObject } from './parse-json-payload.js';
import { matchesAnySignature } from '../../shared/crypto/timing-safe-equal.js';
import { WebhookPayloadError, WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

export interface GithubVerifierOptions {
  /** Webhook secrets (several during rotation), used as UTF-8 HMAC keys like @octokit/webhooks-methods. */
  secrets: readonly string[];
  /** Provider name (default 'github'). */
  provider?: string;
}

const SIGNATURE_HEADER = 'x-hub-signature-256';
const DELIVERY_HEADER = 'x-github-delivery';
const EVENT_HEADER = 'x-github-event';
const SIGNATURE_PREFIX = 'sha256=';
const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex hmac-sha256 of the raw body>`; externalId from X-GitHub-Delivery,
 * eventType from X-GitHub-Event plus `.${action}` when the payload has a string action (e.g. `issues.opened`).
 * Accepts JSON (`application/json`, `application/*+json`) and form-encoded (`payload=<urlencoded json>`)
 * deliveries; the signature covers the raw bytes, not the two headers, so deliveries are also deduplicated on the
 * body's digest ({@link bodyDigestReplayKey}).
 */
export function createGithubVerifier(options: GithubVerifierOptions): WebhookVerifier {
  const keys: KeyObject[] = options.secrets.map((secret) => {
    if (secret === '') throw new Error('GitHub webhook secret must not be empty');
    return createSecretKey(Buffer.from(secret, 'utf8'));
  });
  if (keys.length === 0) throw new Error('GitHub verifier needs at least one secret');

  return {
    provider: options.provider ?? 'github',
    contentTypes: [JSON_TYPE, FORM_TYPE],
    async verify(request: WebhookRequest): Promise<VerifiedWebhook> {
      const header = getHeader(request.headers, SIGNATURE_HEADER);
      if (header === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      if (!header.toLowerCase().startsWith(SIGNATURE_PREFIX)) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');
      }
      const signature = header.slice(SIGNATURE_PREFIX.length).trim();
      const digestOf = (key: KeyObject) => createHmac('sha256', key).update(request.rawBody).digest();
      if (!matchesAnySignature(keys, digestOf, [signature], 'hex')) throw new WebhookVerificationError('INVALID_SIGNATURE');

      const payload = parseGithubPayload(request);
      const externalId = requireEventId(getHeader(request.headers, DELIVERY_HEADER), 'X-GitHub-Delivery header');
      let eventType = requireEventType(getHeader(request.headers, EVENT_HEADER), 'X-GitHub-Event header');
      const action = payload['action'];
      if (typeof action === 'string' && action !== '') {
        eventType = requireEventType(`${eventType}.${action}`, 'X-GitHub-Event header and body field action');
      }
      // X-GitHub-Delivery and X-GitHub-Event are not signed: the body digest makes a re-sent body a duplicate.
      return { externalId, eventType, payload, replayKey: bodyDigestReplayKey(request.rawBody) };
    },
  };
}

function parseGithubPayload(request: WebhookRequest): JsonObject {
  if (request.contentType === FORM_TYPE) {
    const payload = new URLSearchParams(request.rawBody.toString('utf8')).get('payload');
    if (payload === null) throw new WebhookPayloadError('MISSING_FORM_PAYLOAD');
    return parseJsonPayload(payload);
  }
  // Every other type the router lets through (application/json, application/*+json) is JSON.
  return parseJsonPayload(request.rawBody);
}
