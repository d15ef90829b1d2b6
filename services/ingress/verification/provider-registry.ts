import type { Dispatcher } from 'undici';
import { createGithubVerifier } from './github-verifier.js';
import { createHmacVerifier } from './hmac-verifier.js';
import type { PaypalCertificateStore } from './paypal-certificate-store.js';
import { createPaypalVerifier } from './paypal-verifier.js';
import { loadProvidersFile, type ProviderDefinition } from './providers-file.js';
import { createStandardWebhooksVerifier } from './standard-webhooks-verifier.js';
import { createStripeVerifier } from './stripe-verifier.js';
import type { WebhookVerifier } from './webhook-request.js';

export interface ProviderRegistryOptions {
  stripeSecrets: string[];
  githubSecrets: string[];
  paypal?: {
    webhookId: string;
    certHosts: string[];
    dispatcher?: Dispatcher;
    /** Where verified certificates are shared between ingress processes (see RedisPaypalCertificateStore). */
    certificateStore?: PaypalCertificateStore;
  };
  /** Path of a PROVIDERS_FILE (read once, synchronously, here). */
  providersFile?: string;
  toleranceSeconds: number;
}

export interface ProviderRegistry {
  get(provider: string): WebhookVerifier | undefined;
  names(): string[];
}

function nonEmpty(values: readonly string[]): string[] {
  return values.map((value) => value.trim()).filter((value) => value !== '');
}

/** Builds a verifier for one PROVIDERS_FILE entry (which has at least one secret). */
export function createVerifierFromDefinition(definition: ProviderDefinition, toleranceSeconds: number): WebhookVerifier {
  if (definition.type === 'standard-webhooks') {
    return createStandardWebhooksVerifier({
      provider: definition.name,
      secrets: definition.secrets,
      toleranceSeconds,
      ...(definition.contentTypes === undefined ? {} : { contentTypes: definition.contentTypes }),
    });
  }
  const { name, type: _type, ...hmac } = definition;
  return createHmacVerifier({ ...hmac, provider: name });
}

/**
 * Builds every enabled verifier once. A provider without secrets (or, for PayPal, without a webhook id) is
 * absent, so the ingress answers 404 for it. Throws on invalid configuration (bad PROVIDERS_FILE, bad secret).
 */
export function createProviderRegistry(options: ProviderRegistryOptions): ProviderRegistry {
  if (!Number.isFinite(options.toleranceSeconds) || options.toleranceSeconds <= 0) {
    throw new Error('toleranceSeconds must be a positive number');
  }
  const verifiers = new Map<string, WebhookVerifier>();
  const { toleranceSeconds } = options;

  const stripeSecrets = nonEmpty(options.stripeSecrets);
  if (stripeSecrets.length > 0) verifiers.set('stripe', createStripeVerifier({ secrets: stripeSecrets, toleranceSeconds }));

  const githubSecrets = nonEmpty(options.githubSecrets);
  if (githubSecrets.length > 0) verifiers.set('github', createGithubVerifier({ secrets: githubSecrets }));

  const paypal = options.paypal;
  if (paypal !== undefined && paypal.webhookId.trim() !== '') {
    verifiers.set(
      'paypal',
      createPaypalVerifier({
        webhookId: paypal.webhookId,
        certHosts: paypal.certHosts,
        toleranceSeconds,
        ...(paypal.dispatcher === undefined ? {} : { dispatcher: paypal.dispatcher }),
        ...(paypal.certificateStore === undefined ? {} : { store: paypal.certificateStore }),
      }),
    );
  }

  if (options.providersFile !== undefined && options.providersFile.trim() !== '') {
    for (const definition of loadProvidersFile(options.providersFile)) {
      if (definition.secrets.length === 0) continue;
      verifiers.set(definition.name, createVerifierFromDefinition(definition, toleranceSeconds));
    }
  }

  const names = [...verifiers.keys()].sort();
  return {
    get: (provider) => verifiers.get(provider),
    names: () => [...names],
  };
}
