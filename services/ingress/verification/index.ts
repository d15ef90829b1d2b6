export {
  WebhookPayloadError,
  WebhookVerificationError,
  isWebhookPayloadError,
  isWebhookVerificationError,
  type WebhookPayloadErrorCode,
  type WebhookVerificationErrorCode,
} from './verification-errors.js';
export { getHeader, type VerifiedWebhook, type WebhookRequest, type WebhookVerifier } from './webhook-request.js';
export {
  MAX_IDENTIFIER_LENGTH,
  getField,
  parseJsonPayload,
  readEventId,
  readEventType,
  requireEventId,
  requireEventType,
  sanitizeJsonString,
  splitFieldPath,
  type JsonObject,
} from './parse-json-payload.js';
export { decodeSignature, signatureMatches, timingSafeEqual } from './timing-safe-equal.js';
export { createStripeVerifier, parseStripeSignatureHeader, type StripeVerifierOptions } from './stripe-verifier.js';
export { createGithubVerifier, type GithubVerifierOptions } from './github-verifier.js';
export {
  checkCertificateUrl,
  createPaypalVerifier,
  parseCertHosts,
  type HostRule,
  type PaypalVerifier,
  type PaypalVerifierOptions,
} from './paypal-verifier.js';
export {
  createStandardWebhookSigner,
  createStandardWebhooksVerifier,
  decodeStandardWebhookSecret,
  signStandardWebhook,
  type StandardWebhooksVerifierOptions,
} from './standard-webhooks-verifier.js';
export { createHmacVerifier, type HmacAlgorithm, type HmacEncoding, type HmacVerifierOptions } from './hmac-verifier.js';
export {
  BUILT_IN_PROVIDERS,
  PROVIDER_NAME_PATTERN,
  loadProvidersFile,
  parseProvidersFile,
  type HmacProviderDefinition,
  type ProviderDefinition,
  type StandardWebhooksProviderDefinition,
} from './providers-file.js';
export {
  createProviderRegistry,
  createVerifierFromDefinition,
  type ProviderRegistry,
  type ProviderRegistryOptions,
} from './provider-registry.js';
