import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { bodyDigestReplayKey } from './replay-key.js';
import { getField, parseJsonPayload, requireEventId, requireEventType, splitFieldPath } from './parse-json-payload.js';
import { matchesAnySignature } from '../../shared/crypto/timing-safe-equal.js';
import { WebhookVerificationError } from './verification-errors.js';
import { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';

export type HmacAlgorithm = 'sha1' | 'sha256' | 'sha512';
export type HmacEncoding = 'hex' | 'base64';

export interface HmacVerifierOptions {
  /** Provider name (URL segment). */
  provider: string;
  /** Header carrying the signature (any case). */
  header: string;
  algorithm: HmacAlgorithm;
  encoding: HmacEncoding;
  /** Text before the encoded digest in the header, e.g. 'sha256=' (matched case-insensitively). */
  prefix?: string;
  /** Shared secrets (several during rotation), used as UTF-8 HMAC keys. */
  secrets: readonly string[];
  /** Header holding the event id; when absent the id comes from the body (idField). */
  idHeader?: string;
  /** Header holding the event type; when absent the type comes from the body (typeField). */
  typeHeader?: string;
  /** Dot path of the id in the body (default 'id'). */
  idField?: string;
  /** Dot path of the type in the body (default 'type'). */
  typeField?: string;
  /** Media types accepted (default ['application/json']); the body must be JSON in any case. */
  contentTypes?: readonly string[];
}

const DIGEST_BYTES: Readonly<Record<HmacAlgorithm, number>> = { sha1: 20, sha256: 32, sha512: 64 };

/** Generic HMAC over the raw body: `<header>: <prefix><hex|base64 digest>`. No timestamp, so no replay window. */
export function createHmacVerifier(options: HmacVerifierOptions): WebhookVerifier {
  const keys: KeyObject[] = options.secrets.map((secret) => {
    if (secret === '') throw new Error(`Provider ${options.provider}: secrets must not be empty`);
    return createSecretKey(Buffer.from(secret, 'utf8'));
  });
  if (keys.length === 0) throw new Error(`Provider ${options.provider}: needs at least one secret`);
  if (!(options.algorithm in DIGEST_BYTES)) throw new Error(`Provider ${options.provider}: unsupported algorithm`);
  const { algorithm, encoding } = options;
  const signatureHeader = options.header.toLowerCase();
  const prefix = (options.prefix ?? '').toLowerCase();
  const idHeader = options.idHeader?.toLowerCase();
  const typeHeader = options.typeHeader?.toLowerCase();
  const idField = options.idField ?? 'id';
  const typeField = options.typeField ?? 'type';
  const idPath = splitFieldPath(idField);
  const typePath = splitFieldPath(typeField);
  const idSource = idHeader === undefined ? `body field '${idField}'` : `${idHeader} header`;
  const typeSource = typeHeader === undefined ? `body field '${typeField}'` : `${typeHeader} header`;

  return {
    provider: options.provider,
    contentTypes: options.contentTypes ?? ['application/json'],
    keptHeaders: [idHeader, typeHeader].filter((name): name is string => name !== undefined),
    async verify(request: WebhookRequest): Promise<VerifiedWebhook> {
      const header = getHeader(request.headers, signatureHeader);
      if (header === undefined) throw new WebhookVerificationError('MISSING_SIGNATURE');
      if (prefix !== '' && header.slice(0, prefix.length).toLowerCase() !== prefix) {
        throw new WebhookVerificationError('MALFORMED_SIGNATURE_HEADER');
      }
      const provided = header.slice(prefix.length).trim();

      const digestOf = (key: KeyObject) => createHmac(algorithm, key).update(request.rawBody).digest();
      if (!matchesAnySignature(keys, digestOf, [provided], encoding)) throw new WebhookVerificationError('INVALID_SIGNATURE');

      const payload = parseJsonPayload(request.rawBody);
      const id = idHeader === undefined ? getField(payload, idPath) : getHeader(request.headers, idHeader);
      const type = typeHeader === undefined ? getField(payload, typePath) : getHeader(request.headers, typeHeader);
      return {
        externalId: requireEventId(id, idSource),
        eventType: requireEventType(type, typeSource),
        payload,
        // No timestamp bounds a replay, and an id from a header is not even signed: the body's digest keeps a re-sent
        // body from becoming a new event, also once retention deleted the event (its tombstone keeps the digest).
        replayKey: bodyDigestReplayKey(request.rawBody),
      };
    },
  };
}
