/**
 * The log redactor's parts on their own: which configured values count as secrets (configured-secrets.ts), and
 * which forms of a secret the one precompiled pattern finds in a serialized line (secret-pattern.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { configuredSecrets } from '../../services/shared/logging/configured-secrets.js';
import { redactSecretValuesIn, registerSecretValues } from '../../services/shared/logging/logger.js';
import { compileSecretPattern } from '../../services/shared/logging/secret-pattern.js';
import { writeStderrLine } from '../../services/shared/logging/stderr-line.js';

const redactWith = (secrets: string[], line: string) => line.replace(compileSecretPattern(secrets)!, '[REDACTED]');

describe('compileSecretPattern', () => {
  const secret = 'whsec_++//ab+cd/ef=';

  it('finds a secret raw, percent-encoded in either hex case or only in part, and JSON-escaped', () => {
    const encoded = encodeURIComponent(secret);
    for (const form of [
      secret,
      encoded,
      encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
      secret.replaceAll('/', '%2F'), // a path-segment encoder leaves '+' and '=' alone
      secret.replaceAll('+', '%2b'),
    ]) {
      expect(redactWith([secret], `{"path":"/webhooks/${form}/x"}`)).toBe('{"path":"/webhooks/[REDACTED]/x"}');
    }
    const quoted = 'pa"ss\\word-1';
    const once = JSON.stringify({ a: quoted });
    const twice = JSON.stringify({ lastError: `HTTP 500: ${once}` });
    expect(redactWith([quoted], once)).toBe('{"a":"[REDACTED]"}');
    expect(redactWith([quoted], twice)).toBe(JSON.stringify({ lastError: `HTTP 500: ${JSON.stringify({ a: '[REDACTED]' })}` }));
    expect(redactWith([quoted], `/x/${encodeURIComponent(quoted)}`)).toBe('/x/[REDACTED]');
  });

  it('encodes non-ASCII characters as their UTF-8 bytes, and matches nothing else', () => {
    const unicode = 'clé-secrète-✓';
    expect(redactWith([unicode], `a ${encodeURIComponent(unicode)} b ${unicode} c`)).toBe('a [REDACTED] b [REDACTED] c');
    // Regex metacharacters in a secret are literal; near misses stay.
    expect(redactWith(['a.b*c(d)e'], 'aXb*c(d)e a.b*c(d)e a.bbc(d)e')).toBe('aXb*c(d)e [REDACTED] a.bbc(d)e');
    expect(redactWith([secret], `${secret.slice(0, -1)}`)).toBe(secret.slice(0, -1));
  });

  it('replaces a secret that contains another whole', () => {
    expect(redactWith(['abcdef', 'xxabcdefyy'], 'xxabcdefyy abcdef')).toBe('[REDACTED] [REDACTED]');
    expect(compileSecretPattern([])).toBeNull();
  });
});

describe('registerSecretValues and the line redaction', () => {
  it('keeps the line valid JSON: never takes a quote or backslash of the JSON itself, nor half an escape', () => {
    registerSecretValues(['quote"at-end"', 'back\\slash\\', 'nabcdef-secret']);
    for (const value of ['quote"at-end"', 'x quote"at-end" y', 'back\\slash\\', 'pre back\\slash\\', 'nabcdef-secret']) {
      const line = redactSecretValuesIn(JSON.stringify({ a: value, b: 'after' }));
      expect(JSON.parse(line)).toEqual({ a: value.replace(/quote"at-end"|back\\slash\\|nabcdef-secret/, '[REDACTED]'), b: 'after' });
    }
    // A newline then "abcdef-secret" is not the secret "nabcdef-secret" (the n belongs to the escape \n).
    const newline = JSON.stringify({ a: '\nabcdef-secret' });
    expect(redactSecretValuesIn(newline)).toBe(newline);
    // A value ending where the secret's closing quote would be is left alone (the quote is the string's end).
    const unquoted = JSON.stringify({ a: 'quote"at-end', b: 'x' });
    expect(JSON.parse(redactSecretValuesIn(unquoted))).toEqual({ a: 'quote"at-end', b: 'x' });
  });

  it("redacts a registered value in every form, and a Standard Webhooks secret's key material on its own", () => {
    const key = 'MfKQ9r+dKpJSUYo1nLmT2uS/aVXe6Qx1JzWyXfGmQgY=';
    registerSecretValues([`whsec_${key}`, 'short', undefined]);
    expect(redactSecretValuesIn(`{"a":"whsec_${key}","b":"${encodeURIComponent(key)}","c":"${key}"}`)).toBe('{"a":"[REDACTED]","b":"[REDACTED]","c":"[REDACTED]"}');
    expect(redactSecretValuesIn('{"short":"short"}')).toBe('{"short":"short"}');
  });
});

describe('configuredSecrets', () => {
  const config = {
    providers: { stripeSecrets: ['whsec_stripe_a', 'whsec_stripe_b'], githubSecrets: ['gh-secret'] },
    adminApiToken: 'admin-token',
    preStopToken: 'prestop-token',
    database: { url: 'postgresql://app:db%2Fpass@db:5432/webhooks' },
    redis: { url: 'redis://:redis-pass@redis:6379/2' },
  };

  it('lists the environment secrets, every PROVIDERS_FILE secret and the ROUTES_FILE credentials', () => {
    const secrets = configuredSecrets(config, {
      providers: [{ secrets: ['whsec_acme'] }, { secrets: ['shop-1', 'shop-2'] }, { secrets: null }],
      routes: {
        destinations: {
          billing: {
            url: 'https://deliverer:url%2Bpass@billing.internal/hooks?access_token=query-token&region=eu',
            secret: 'whsec_destination',
            headers: { Authorization: 'Bearer bearer-token', 'X-Api-Key': 'api-key-value', 'X-Auth-Token': 'auth-token', Cookie: 'sid=cookie', 'X-Team': 'payments' },
          },
          bus: { url: 'amqp://user:amqp-pass@rabbitmq:5672' },
          // NATS takes a token as the URL's user name.
          stream: { url: 'nats://s3cr3t-nats-token@nats:4222' },
          plain: { url: 'http://plain.internal/hooks' },
          // Signed URLs: Azure SAS (`sig`), Azure Functions (`code`); Slack keeps its token in the path.
          blob: { url: 'https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=AzureSasSignatureValue123456' },
          func: { url: 'https://fn.azurewebsites.net/api/hook?code=AzureFnKeyValue0123' },
          slack: { url: 'https://hooks.slack.com/services/T00000000/B00000000/SlackPathSecret0123456789' },
        },
      },
    });
    expect(new Set(secrets)).toEqual(
      new Set([
        'whsec_stripe_a',
        'whsec_stripe_b',
        'gh-secret',
        'admin-token',
        'prestop-token',
        'db%2Fpass',
        'db/pass',
        'redis-pass',
        'whsec_acme',
        'shop-1',
        'shop-2',
        'whsec_destination',
        'url%2Bpass',
        'url+pass',
        // The Basic credential the worker sends for them (base64 of 'deliverer:url+pass').
        'ZGVsaXZlcmVyOnVybCtwYXNz',
        'query-token',
        'Bearer bearer-token',
        'bearer-token',
        'api-key-value',
        'auth-token',
        'sid=cookie',
        'amqp-pass',
        's3cr3t-nats-token',
        'AzureSasSignatureValue123456',
        'AzureFnKeyValue0123',
        'SlackPathSecret0123456789',
      ]),
    );
  });

  it("takes DATABASE_URL's and REDIS_URL's bare user name for a role, not a token: the default DATABASE_URL redacts nothing", () => {
    const defaults = {
      providers: { stripeSecrets: [], githubSecrets: [] },
      // .env.example's DATABASE_URL, and a Redis ACL user without a password.
      database: { url: 'postgresql://postgres@localhost:5432/webhooks' },
      redis: { url: 'redis://default@redis:6379/0' },
    };
    expect(configuredSecrets(defaults)).toEqual([]);
    registerSecretValues(configuredSecrets(defaults));
    const line = JSON.stringify({ path: '/webhooks/postgresql-docs', error: 'role "postgres" does not exist', user: 'default' });
    expect(redactSecretValuesIn(line)).toBe(line);
    // The password next to such a user name still is a secret.
    expect(new Set(configuredSecrets({ ...defaults, database: { url: 'postgresql://postgres:pg-pass-1@db/webhooks' } }))).toEqual(new Set(['pg-pass-1']));
  });

  it('needs neither file nor optional setting', () => {
    expect(configuredSecrets({ providers: { stripeSecrets: [], githubSecrets: [] }, database: { url: 'postgresql://localhost/webhooks' }, redis: {} })).toEqual([]);
  });
});

describe('writeStderrLine', () => {
  it('redacts registered secrets in the plain lines that stop a start (they bypass the JSON log)', () => {
    const secret = 'stderr-line-secret-42';
    registerSecretValues([secret]);
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stderr.write;
    try {
      writeStderrLine(`Failed to start: could not reach redis://:${secret}@cache:6379`);
    } finally {
      process.stderr.write = original;
    }
    expect(written).toEqual(['Failed to start: could not reach redis://:[REDACTED]@cache:6379\n']);
  });
});
