import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadProvidersFile, parseProvidersFile } from '../../../services/ingress/verification/providers-file.js';
import { createProviderRegistry } from '../../../services/ingress/verification/provider-registry.js';
import { signStandardWebhook } from '../../../services/shared/standard-webhooks/sign.js';
import { webhookRequest } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'providers-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const VALID = `
providers:
  acme:                      # served at POST /webhooks/acme
    type: standard-webhooks
    secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
  shop:
    type: hmac
    header: X-Shopify-Hmac-Sha256
    algorithm: sha256
    encoding: base64
    secrets: ["s3cr3t-value"]
    idHeader: X-Shopify-Webhook-Id
    typeHeader: X-Shopify-Topic
  disabled:
    type: hmac
    header: x-sig
    algorithm: sha1
    encoding: hex
    prefix: "sha1="
    secrets: []
    idField: data.id
    typeField: data.kind
`;

function errorOf(text: string): string {
  try {
    parseProvidersFile(text, '/etc/webhooks/providers.yaml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

describe('providers file', () => {
  it('loads a valid file into typed definitions', () => {
    const definitions = loadProvidersFile(file('valid.yaml', VALID));
    expect(definitions).toEqual([
      { name: 'acme', type: 'standard-webhooks', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
      {
        name: 'shop',
        type: 'hmac',
        header: 'X-Shopify-Hmac-Sha256',
        algorithm: 'sha256',
        encoding: 'base64',
        secrets: ['s3cr3t-value'],
        idHeader: 'X-Shopify-Webhook-Id',
        typeHeader: 'X-Shopify-Topic',
      },
      {
        name: 'disabled',
        type: 'hmac',
        header: 'x-sig',
        algorithm: 'sha1',
        encoding: 'hex',
        prefix: 'sha1=',
        secrets: [],
        idField: 'data.id',
        typeField: 'data.kind',
      },
    ]);
    expect(parseProvidersFile('providers:\n', 'x.yaml')).toEqual([]);
    // An empty prefix is no prefix (the README's example spells it out).
    const noPrefix = 'providers:\n  shop:\n    type: hmac\n    header: x-sig\n    algorithm: sha256\n    encoding: hex\n    prefix: ""\n    secrets: [abc]\n';
    expect(parseProvidersFile(noPrefix, 'x.yaml')[0]).toMatchObject({ name: 'shop', prefix: '' });
  });

  it.each([
    ['unknown type', 'providers:\n  acme:\n    type: jwt\n    secrets: [a]\n', 'providers.acme.type'],
    ['missing type', 'providers:\n  acme:\n    secrets: [a]\n', 'providers.acme.type'],
    ['bad algorithm', 'providers:\n  shop:\n    type: hmac\n    header: x\n    algorithm: md5\n    encoding: hex\n    secrets: [a]\n', 'providers.shop.algorithm'],
    ['missing header', 'providers:\n  shop:\n    type: hmac\n    algorithm: sha1\n    encoding: hex\n    secrets: [a]\n', 'providers.shop.header'],
    ['typo in a key', 'providers:\n  acme:\n    type: standard-webhooks\n    secrets: []\n    secret: [a]\n', 'providers.acme: Unrecognized key'],
    ['numeric secret', 'providers:\n  acme:\n    type: hmac\n    header: x\n    algorithm: sha1\n    encoding: hex\n    secrets: [1234]\n', 'providers.acme.secrets[0]'],
    ['invalid whsec secret', 'providers:\n  acme:\n    type: standard-webhooks\n    secrets: ["whsec_%%%%"]\n', 'providers.acme.secrets[0]'],
    // Once read as UTF-8 bytes here, while the Standard Webhooks libraries base64-decode it: refused instead.
    ['plain-text standard webhooks secret', 'providers:\n  acme:\n    type: standard-webhooks\n    secrets: ["my-plain-secret"]\n', "providers.acme.secrets[0]: must be base64 (padded, optionally after 'whsec_')"],
    ['reserved name', 'providers:\n  stripe:\n    type: standard-webhooks\n    secrets: []\n', "providers.stripe: 'stripe' is a built-in provider"],
    ['reserved name github', 'providers:\n  github:\n    type: standard-webhooks\n    secrets: []\n', 'providers.github'],
    ['bad name', 'providers:\n  Acme!:\n    type: standard-webhooks\n    secrets: []\n', 'providers["Acme!"]'],
    ['name too long', `providers:\n  ${'a'.repeat(64)}:\n    type: standard-webhooks\n    secrets: []\n`, `providers.${'a'.repeat(64)}`],
    ['bad header name', 'providers:\n  shop:\n    type: hmac\n    header: "x sig"\n    algorithm: sha1\n    encoding: hex\n    secrets: []\n', 'providers.shop.header'],
    ['bad field path', 'providers:\n  shop:\n    type: hmac\n    header: x\n    algorithm: sha1\n    encoding: hex\n    secrets: []\n    idField: "a..b"\n', 'providers.shop.idField'],
    ['unknown root key', 'provider:\n  acme: {}\n', '(root): Unrecognized key'],
    ['empty file', '', '(root)'],
    ['list root', '- a\n', '(root)'],
    ['YAML syntax', 'providers:\n  acme: [\n', 'YAML error'],
    ['duplicate key', 'providers:\n  acme:\n    type: hmac\n  acme:\n    type: hmac\n', 'Map keys must be unique at line 4'],
  ])('rejects %s naming the file and the path', (_name, text, expected) => {
    const message = errorOf(text);
    expect(message).toContain('/etc/webhooks/providers.yaml');
    expect(message).toContain(expected);
    expect(message).not.toContain('\n');
  });

  it('never echoes a secret in the error', () => {
    const message = errorOf('providers:\n  acme:\n    type: standard-webhooks\n    secrets: ["whsec_TOP*SECRET"]\n  bad: [\n');
    expect(message).not.toContain('TOP*SECRET');
    const zodMessage = errorOf('providers:\n  acme:\n    type: standard-webhooks\n    secrets: ["whsec_TOP*SECRET"]\n');
    expect(zodMessage).not.toContain('TOP*SECRET');
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadProvidersFile(join(dir, 'missing.yaml'))).toThrow(/PROVIDERS_FILE .*missing\.yaml: ENOENT/);
  });
});

describe('provider registry', () => {
  it('builds enabled providers only, including those from the providers file', async () => {
    const registry = createProviderRegistry({
      stripeSecrets: ['whsec_stripe'],
      githubSecrets: [],
      paypal: { webhookId: 'WH-1', certHosts: [] },
      providersFile: file('registry.yaml', VALID),
      toleranceSeconds: 300,
    });
    expect(registry.names()).toEqual(['acme', 'paypal', 'shop', 'stripe']);
    expect(registry.get('github')).toBeUndefined();
    expect(registry.get('disabled')).toBeUndefined();
    expect(registry.get('__proto__')).toBeUndefined();
    expect(registry.get('constructor')).toBeUndefined();
    expect(registry.get('shop')?.contentTypes).toEqual(['application/json']);

    const body = JSON.stringify({ type: 'a.b' });
    const ts = Math.floor(Date.now() / 1000);
    const acme = registry.get('acme');
    await expect(
      acme?.verify(
        webhookRequest(body, {
          'webhook-id': 'msg_1',
          'webhook-timestamp': String(ts),
          'webhook-signature': signStandardWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_1', ts, Buffer.from(body)),
        }),
      ),
    ).resolves.toEqual({ externalId: 'msg_1', eventType: 'a.b', payload: { type: 'a.b' } });

    const shopBody = JSON.stringify({ x: 1 });
    await expect(
      registry.get('shop')?.verify(
        webhookRequest(shopBody, {
          'x-shopify-hmac-sha256': createHmac('sha256', 's3cr3t-value').update(shopBody).digest('base64'),
          'x-shopify-webhook-id': 'w-1',
          'x-shopify-topic': 'orders/create',
        }),
      ),
    ).resolves.toMatchObject({ externalId: 'w-1', eventType: 'orders/create' });
  });

  it('treats blank secrets and a blank webhook id as disabled', () => {
    const registry = createProviderRegistry({
      stripeSecrets: ['', '  '],
      githubSecrets: ['gh'],
      paypal: { webhookId: ' ', certHosts: [] },
      toleranceSeconds: 300,
    });
    expect(registry.names()).toEqual(['github']);
  });

  it('fails at start on an invalid providers file or tolerance', () => {
    expect(() =>
      createProviderRegistry({
        stripeSecrets: [],
        githubSecrets: [],
        providersFile: file('bad.yaml', 'providers:\n  paypal:\n    type: standard-webhooks\n    secrets: []\n'),
        toleranceSeconds: 300,
      }),
    ).toThrow(/bad\.yaml: providers\.paypal/);
    expect(() => createProviderRegistry({ stripeSecrets: [], githubSecrets: [], toleranceSeconds: 0 })).toThrow();
    expect(() =>
      createProviderRegistry({ stripeSecrets: [], githubSecrets: [], paypal: { webhookId: 'WH', certHosts: ['a/b'] }, toleranceSeconds: 300 }),
    ).toThrow(/certificate host/);
  });
});
