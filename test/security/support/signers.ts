import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createStandardWebhookSigner } from '../../../services/shared/standard-webhooks/sign.js';
import { stripeSignatureHeader } from '../../support/provider-simulator.js';
import { githubSignature } from '../../support/signing.js';

/** Secrets of every provider the security tests enable; none of them may ever appear in a response. */
export const SECRETS = {
  stripe: `whsec_stripe_${randomBytes(12).toString('hex')}`,
  github: `gh_${randomBytes(12).toString('hex')}`,
  acme: `whsec_${randomBytes(24).toString('base64')}`,
  shop: `shop_${randomBytes(12).toString('hex')}`,
  admin: `admin_${randomBytes(16).toString('hex')}`,
};

export const PROVIDERS = ['stripe', 'github', 'acme', 'shop'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** A PROVIDERS_FILE with a Standard Webhooks provider (`acme`) and a generic HMAC one (`shop`). */
export function writeProvidersFile(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'providers-security-'));
  const path = join(dir, 'providers.yaml');
  writeFileSync(
    path,
    stringify({
      providers: {
        acme: { type: 'standard-webhooks', secrets: [SECRETS.acme] },
        shop: { type: 'hmac', header: 'X-Shop-Hmac', algorithm: 'sha256', encoding: 'base64', secrets: [SECRETS.shop], idHeader: 'X-Shop-Id', typeHeader: 'X-Shop-Topic' },
      },
    }),
  );
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const signAcme = createStandardWebhookSigner(SECRETS.acme);

/** Headers carrying a VALID signature of `body` for `provider` (plus the id/type headers it needs). */
export function validSignatureHeaders(provider: Provider, body: Buffer, id: string, type: string): Record<string, string> {
  switch (provider) {
    case 'stripe':
      return { 'stripe-signature': stripeSignatureHeader(body.toString('utf8'), SECRETS.stripe) };
    case 'github':
      return { 'x-hub-signature-256': githubSignature(body, SECRETS.github), 'x-github-delivery': id, 'x-github-event': type };
    case 'acme': {
      const timestamp = Math.floor(Date.now() / 1000);
      return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signAcme(id, timestamp, body) };
    }
    case 'shop':
      return { 'x-shop-hmac': createHmac('sha256', SECRETS.shop).update(body).digest('base64'), 'x-shop-id': id, 'x-shop-topic': type };
  }
}

/** The header names that carry each provider's signature. */
export const SIGNATURE_HEADERS: Record<Provider, string> = {
  stripe: 'stripe-signature',
  github: 'x-hub-signature-256',
  acme: 'webhook-signature',
  shop: 'x-shop-hmac',
};

/** Text that must never be in a response: any secret, or what a stack trace or a source path looks like. */
export function leaks(text: string): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    if (text.includes(secret)) found.push(`secret ${name}`);
    // Standard Webhooks keys: the base64 part alone is just as secret.
    if (secret.startsWith('whsec_') && text.includes(secret.slice(6))) found.push(`secret ${name} (base64 part)`);
  }
  if (/\bat .+[(\s]\/?[\w./-]+:\d+:\d+\)?/.test(text)) found.push('stack frame');
  if (/node_modules|\/services\/|\.ts:\d+|file:\/\//.test(text)) found.push('source path');
  if (/postgres(ql)?:\/\/|redis:\/\//.test(text)) found.push('connection string');
  return found;
}
