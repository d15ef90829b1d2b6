import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from '@jest/globals';
import createExpressApp from 'express';
import { configVariableNames } from '../../services/shared/config/config-schema.js';
import { ConfigError, loadConfig } from '../../services/shared/config/config.js';
import { parseTrustProxy } from '../../services/shared/config/trust-proxy.js';

describe('configuration', () => {
  it('has the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      role: 'all',
      http: { port: 3000, host: '0.0.0.0', maxBodyBytes: 1_048_576 },
      database: { url: 'postgresql://postgres@localhost:5432/webhooks' },
      redis: { host: 'localhost', port: 6379 },
      queue: { name: 'webhook-events', attempts: 8, backoffMs: 1000 },
      worker: { concurrency: 32 },
      reconciler: { intervalMs: 15_000, staleMs: 30_000 },
      shutdownTimeoutMs: 25_000,
      logLevel: 'info',
    });
    expect(config.providers.stripeSecrets).toEqual([]);
    expect(config.providers.paypal).toBeUndefined();
  });

  it.each(['token\n', ' token', 'to ken'])('refuses an ADMIN_API_TOKEN with whitespace (%j: no bearer header could carry it)', (token) => {
    expect(() => loadConfig({ ADMIN_API_TOKEN: token })).toThrow('Invalid configuration: ADMIN_API_TOKEN: must not contain whitespace');
  });

  it.each(['token\n', 'to ken'])('refuses a PRESTOP_TOKEN with whitespace (%j: the kubelet sends it in a header)', (token) => {
    expect(() => loadConfig({ PRESTOP_TOKEN: token })).toThrow('Invalid configuration: PRESTOP_TOKEN: must not contain whitespace');
    expect(loadConfig({ PRESTOP_TOKEN: 'abc123' }).preStopToken).toBe('abc123');
    expect(loadConfig({ PRESTOP_TOKEN: '' }).preStopToken).toBeUndefined();
  });

  // An HTTP header is bytes, and clients write characters outside ASCII differently: curl sends UTF-8 (which the
  // service reads back as Latin-1: "é" arrives as "Ã©"), a browser's fetch sends Latin-1 or throws (the console then
  // says the service could not be reached), the kubelet's probe client has its own rules. Such a token was accepted
  // at start and then matched no request (or only the console's), every operator answered 401 with no sign why.
  it.each(['pässwort-0123456789abcdef0123456789', 'token-€-0123456789abcdef0123456789', 'token-\u0001-control'])(
    'refuses an ADMIN_API_TOKEN or PRESTOP_TOKEN outside printable ASCII (%j: no header carries it as written)',
    (token) => {
      for (const variable of ['ADMIN_API_TOKEN', 'PRESTOP_TOKEN']) {
        expect(() => loadConfig({ [variable]: token })).toThrow(`Invalid configuration: ${variable}: must be printable ASCII`);
      }
    },
  );

  it('takes a token of any printable ASCII (RFC 6750 b64token and more)', () => {
    const token = 'Az09-._~+/=!#$%&*?@[]^`{|}:;,<>"\'';
    expect(loadConfig({ ADMIN_API_TOKEN: token, PRESTOP_TOKEN: token })).toMatchObject({ adminApiToken: token, preStopToken: token });
  });

  it('reads comma-separated secret lists for rotation', () => {
    const config = loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_a, whsec_b,,', PAYPAL_WEBHOOK_ID: 'WH-1', PAYPAL_CERT_HOSTS: 'localhost:8443' });
    expect(config.providers.stripeSecrets).toEqual(['whsec_a', 'whsec_b']);
    expect(config.providers.paypal).toEqual({ webhookId: 'WH-1', certHosts: ['localhost:8443'] });
  });

  it.each([
    ['STRIPE_WEBHOOK_SECRET', ',,,'],
    ['STRIPE_WEBHOOK_SECRET', ' , '],
    ['GITHUB_WEBHOOK_SECRET', ','],
  ])('refuses %s=%j: a value with no secret in it, which used to turn the provider off without a word', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(
      `Invalid configuration: ${name}: holds no secret, only commas and blanks: give one or more secrets, comma-separated, or leave it empty to turn the provider off`,
    );
  });

  it.each([',,,', ' , '])('refuses PAYPAL_CERT_HOSTS=%j: no host in it, which used to mean PayPal\'s own hosts without a word', (value) => {
    expect(() => loadConfig({ PAYPAL_WEBHOOK_ID: 'WH-1', PAYPAL_CERT_HOSTS: value })).toThrow(
      "Invalid configuration: PAYPAL_CERT_HOSTS: holds no host, only commas and blanks: give host[:port] entries, comma-separated, or leave it empty for PayPal's own certificate hosts",
    );
  });

  it('reads an empty provider secret variable as the provider off, and ignores empty entries between commas', () => {
    expect(loadConfig({ STRIPE_WEBHOOK_SECRET: '', GITHUB_WEBHOOK_SECRET: '  ' }).providers).toMatchObject({ stripeSecrets: [], githubSecrets: [] });
    expect(loadConfig({ GITHUB_WEBHOOK_SECRET: 'gh_a,,gh_b' }).providers.githubSecrets).toEqual(['gh_a', 'gh_b']);
  });

  it('reads enum values with blanks around them, as it reads integers', () => {
    const config = loadConfig({ SERVICE_ROLE: ' worker', LOG_LEVEL: 'warn ', POD_DELETION_COST_ENABLED: ' false ', OTEL_SDK_DISABLED: '\ttrue' });
    expect(config).toMatchObject({ role: 'worker', logLevel: 'warn', kubernetes: { podDeletionCostEnabled: false } });
    expect(() => loadConfig({ SERVICE_ROLE: 'work er' })).toThrow('Invalid configuration: SERVICE_ROLE: ');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_URL', 'redis://:pw@[bad'],
    ['REDIS_URL', 'redis://127.0.0.1:0'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/queues'],
    ['JOB_ATTEMPTS', '0'],
    ['SERVICE_ROLE', 'both'],
    ['LOG_LEVEL', 'loud'],
    ['OTEL_SDK_DISABLED', 'maybe'],
  ])('refuses %s=%s with one line naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      expect((error as Error).message).toContain(name);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it.each([
    ['MAX_BODY_BYTES', '1e3'],
    ['MAX_BODY_BYTES', '1048576.0'],
    ['PORT', '0x10'],
    ['JOB_ATTEMPTS', '+5'],
    ['RECONCILER_STALE_MS', '-0'],
    ['HEALTH_MAX_HEAP_MB', '2e3'],
  ])('refuses %s=%s: integers are decimal digits only', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(`Invalid configuration: ${name}: must be a whole number in decimal digits`);
  });

  it('reads integers written in decimal digits (blanks around them ignored)', () => {
    const config = loadConfig({ MAX_BODY_BYTES: '1000', PORT: ' 8080 ', RECONCILER_STALE_MS: '0', HEALTH_MAX_HEAP_MB: '0512' });
    expect(config.http).toMatchObject({ maxBodyBytes: 1000, port: 8080 });
    expect(config.reconciler.staleMs).toBe(0);
    expect(config.health.maxHeapMb).toBe(512);
  });

  it.each([
    ['postgresql://postgres@127.0.0.1:notaport/db', 'not a valid URL'],
    ['postgresql://postgres@127.0.0.1:70000/db', 'not a valid URL'],
    ['postgresql://postgres@127.0.0.1:0/db', 'port must be 1-65535'],
    ['postgresql://user:pa#ss@db/webhooks', 'not a valid URL'],
    // Parses, as host "ss" with no database: the start then retried a host that does not exist for 120 s.
    ['postgresql://postgres:pa@ss#word@localhost:5432/webhooks', "contains '#', which ends a URL: percent-encode it in the user name or password (# is %23"],
    ['postgresql://postgres@localhost:5432/webhooks#pa#ss', "contains '#'"],
    ['postgresql://postgres:pa@ss@localhost:5432', 'names no database (postgresql://user[:password]@host[:port]/database)'],
    ['postgresql://postgres@localhost:5432/', 'names no database'],
  ])('refuses DATABASE_URL=%s naming DATABASE_URL at validation, not quoting it', (url, problem) => {
    expect(() => loadConfig({ DATABASE_URL: url })).toThrow(`Invalid configuration: DATABASE_URL: ${problem}`);
    try {
      loadConfig({ DATABASE_URL: url });
    } catch (error) {
      expect((error as Error).message).not.toContain('pa#ss');
    }
  });

  it('takes the PostgreSQL URLs pg and the migrations read', () => {
    for (const url of [
      'postgresql://postgres@localhost:5432/webhooks',
      'postgres://user:p%40ss@db.internal/webhooks?sslmode=require',
      'postgresql://postgres@[::1]:5432/webhooks',
      'postgresql:///webhooks?host=/var/run/postgresql',
    ]) {
      expect(loadConfig({ DATABASE_URL: url }).database.url).toBe(url);
    }
  });

  it('refuses a TRUST_PROXY Express would refuse, at validation (not after the migrations)', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'banana' })).toThrow('Invalid configuration: TRUST_PROXY: invalid IP address: banana');
    expect(() => loadConfig({ TRUST_PROXY: 'loopback,' })).toThrow('Invalid configuration: TRUST_PROXY: empty entry');
  });

  it.each([
    'true', 'false', '1', '0', '12', 'loopback', 'loopback, linklocal, uniquelocal', '10.0.0.0/8, 192.168.1.1', '::1', 'fe80::/10',
    '10.0.0.1/255.255.0.0', 'banana', 'loopback,', '1.2.3.4/33', '-1', '1.5', 'TRUE', '10.0.0.0/8;172.16.0.0/12',
  ])('takes TRUST_PROXY=%s exactly when Express\'s trust proxy setting does', (value) => {
    const express = createExpressApp();
    const expressTakesIt = (() => {
      try {
        express.set('trust proxy', parseTrustProxy(value));
        return true;
      } catch {
        return false;
      }
    })();
    const configTakesIt = (() => {
      try {
        return loadConfig({ TRUST_PROXY: value }).http.trustProxy === value;
      } catch (error) {
        expect((error as Error).message).toMatch(/^Invalid configuration: TRUST_PROXY: [^\n]+$/);
        return false;
      }
    })();
    expect(configTakesIt).toBe(expressTakesIt);
  });

  it.each(['not..a..host', 'http://localhost', 'localhost:3000', '[::1]', '10.0.0.256', '-host', 'a host'])('refuses HOST=%s naming HOST', (host) => {
    expect(() => loadConfig({ HOST: host })).toThrow('Invalid configuration: HOST: must be an IP address');
  });

  it('takes IP addresses and host names for HOST, without resolving them', () => {
    for (const host of ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost', 'webhooks.default.svc.cluster.local', 'name.that.does.not.resolve.invalid']) {
      expect(loadConfig({ HOST: host }).http.host).toBe(host);
    }
  });

  it.each(['http://evil.com', 'https://certs.example.com', 'certs.example.com/certs', 'user@certs.example.com', 'certs.example.com:0', 'certs.example.com:', 'localhost:8443, http://evil.com'])(
    'refuses PAYPAL_CERT_HOSTS=%s: entries are host[:port]',
    (value) => {
      expect(() => loadConfig({ PAYPAL_CERT_HOSTS: value })).toThrow(/^Invalid configuration: PAYPAL_CERT_HOSTS: entry '[^']+' is not host\[:port\]/);
    },
  );

  it('takes host[:port] entries (and *.domain[:port]) for PAYPAL_CERT_HOSTS', () => {
    const config = loadConfig({ PAYPAL_WEBHOOK_ID: 'WH-1', PAYPAL_CERT_HOSTS: 'api.sandbox.paypal.com, localhost:8443,[::1]:8443, *.example.com:9443' });
    expect(config.providers.paypal?.certHosts).toEqual(['api.sandbox.paypal.com', 'localhost:8443', '[::1]:8443', '*.example.com:9443']);
  });

  it('takes the redis URLs the connection code reads', () => {
    for (const url of ['redis://127.0.0.1', 'redis://:p%40ss@redis:6380/2', 'rediss://user:pw@redis.example.com:6379/', 'redis://[::1]:6379']) {
      expect(() => loadConfig({ REDIS_URL: url })).not.toThrow();
    }
  });

  it('reports heap as down at HEALTH_MAX_HEAP_MB, or at 90% of V8\'s own heap limit when it is unset', () => {
    const limitMb = getHeapStatistics().heap_size_limit / 1_048_576;
    expect(loadConfig({}).health.maxHeapMb).toBe(Math.floor(limitMb * 0.9));
    expect(loadConfig({ HEALTH_MAX_HEAP_MB: '' }).health.maxHeapMb).toBe(Math.floor(limitMb * 0.9));
    expect(loadConfig({ HEALTH_MAX_HEAP_MB: '200' }).health.maxHeapMb).toBe(200);
    expect(() => loadConfig({ HEALTH_MAX_HEAP_MB: '8' })).toThrow(/HEALTH_MAX_HEAP_MB/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' }).http.port).toBe(3000);
  });

  it('refuses RETENTION_COMPLETED_DAYS of 1 or 2 (inside the providers\' 3-day retry window) with one line saying why', () => {
    for (const days of ['1', '2']) {
      expect(() => loadConfig({ RETENTION_COMPLETED_DAYS: days })).toThrow(
        /^Invalid configuration: RETENTION_COMPLETED_DAYS: must be 0 \(keep\) or at least 3: Stripe and PayPal retry an event for 3 days[^\n]*$/,
      );
    }
    for (const days of [0, 3, 30]) expect(loadConfig({ RETENTION_COMPLETED_DAYS: String(days) }).retention.completedDays).toBe(days);
  });

  it('refuses DATABASE_POOL_SIZE under 3 for the roles that run the worker (its passes each hold one), with one line saying why; any size for the ingress', () => {
    for (const role of ['worker', 'all', undefined]) {
      for (const size of ['1', '2']) {
        expect(() => loadConfig({ SERVICE_ROLE: role, DATABASE_POOL_SIZE: size })).toThrow(
          new RegExp(`^Invalid configuration: DATABASE_POOL_SIZE: must be at least 3 for SERVICE_ROLE=${role ?? 'all'} \\(got ${size}\\): the reconciler's and the retention's passes each hold a connection[^\\n]*$`),
        );
      }
      expect(loadConfig({ SERVICE_ROLE: role, DATABASE_POOL_SIZE: '3' }).database.poolSize).toBe(3);
    }
    for (const size of [1, 2]) expect(loadConfig({ SERVICE_ROLE: 'ingress', DATABASE_POOL_SIZE: String(size) }).database.poolSize).toBe(size);
  });

  it('keeps the tombstones of deleted events 365 days by default; 0 keeps them forever', () => {
    expect(loadConfig({}).retention).toMatchObject({ completedDays: 30, tombstoneDays: 365 });
    expect(loadConfig({ RETENTION_TOMBSTONE_DAYS: '0' }).retention.tombstoneDays).toBe(0);
    expect(() => loadConfig({ RETENTION_TOMBSTONE_DAYS: '-1' })).toThrow('Invalid configuration: RETENTION_TOMBSTONE_DAYS');
  });

  it('.env.example lists every variable of the schema, and nothing else of ours', () => {
    const listed = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
      .split('\n')
      .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((name): name is string => Boolean(name));
    for (const name of configVariableNames) expect(listed).toContain(name);
    for (const name of listed.filter((n) => !n.startsWith('OTEL_'))) expect(configVariableNames).toContain(name);
  });
});
