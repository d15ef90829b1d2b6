/**
 * PayPal signing certificates that verified a genuine signature are shared through Redis: a restarted ingress (a
 * deploy, another pod) verifies PayPal's events without downloading the certificate again, which is when a forged
 * flood holding the download slots would otherwise turn them away. Redis is an optimisation here, never a
 * dependency: when it cannot answer, the certificate is downloaded.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisPaypalCertificateStore } from '../../services/ingress/verification/paypal-certificate-store.js';
import { createRedisConnection } from '../../services/shared/queue/redis-connection.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const PAYPAL_WEBHOOK_ID = 'WH-STORE-TEST';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let redis: Redis;

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  redis?.disconnect();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

const storedKeys = () => redis.keys(`${ns.prefix}:webhook-events:paypal-certificates:*`);

function startIngress() {
  return startPaypalIngress(paypal, { db, ns }, { PAYPAL_WEBHOOK_ID });
}

let counter = 0;
function send(baseUrl: string, certUrl: string, forged = false) {
  const body = JSON.stringify({ id: `WH-STORE-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
  const headers = paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl);
  if (forged) headers['paypal-transmission-sig'] = Buffer.alloc(256, 7).toString('base64');
  return postWebhook(baseUrl, 'paypal', body, headers);
}

describe('PayPal certificates shared through Redis', () => {
  it('a restarted ingress verifies PayPal events with the certificate the previous one verified, without downloading it', async () => {
    const certUrl = `https://${paypal.host}/v1/notifications/certs/CERT-360caa42-fca2a594-5702e1f0`;
    const first = await startIngress();
    try {
      expect((await send(first.baseUrl, certUrl)).status).toBe(202);
      await waitFor('the certificate to be shared', async () => (await storedKeys()).length === 1);
      // A forgery naming another certificate URL: downloaded (the fixture serves a certificate there), never shared.
      expect((await send(first.baseUrl, `https://${paypal.host}/v1/notifications/certs/CERT-0-0-forged`, true)).status).toBe(401);
    } finally {
      await first.stop();
    }
    const [key] = await storedKeys();
    // Kept as long as the certificate is used (24 h at most), not forever.
    const ttl = await redis.pttl(key!);
    expect(ttl).toBeGreaterThan(23 * 60 * 60 * 1000);
    expect(ttl).toBeLessThanOrEqual(24 * 60 * 60 * 1000);

    const downloads = paypal.downloads;
    const restarted = await startIngress();
    try {
      expect((await send(restarted.baseUrl, certUrl)).status).toBe(202);
      expect(paypal.downloads).toBe(downloads);
      expect(await storedKeys()).toHaveLength(1);
    } finally {
      await restarted.stop();
    }
  });
});

describe('RedisPaypalCertificateStore', () => {
  const certificate = { pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', expiresAt: Date.now() + 60_000 };

  it('reads what it wrote, misses before it has a connection, and skips what has expired', async () => {
    const store = new RedisPaypalCertificateStore({ keyPrefix: `${ns.prefix}:unit` });
    await store.put('https://x/1', certificate);
    expect(await store.get('https://x/1')).toBeUndefined();
    store.use(redis);
    await store.put('https://x/1', certificate);
    await store.put('https://x/expired', { ...certificate, expiresAt: Date.now() - 1 });
    expect(await store.get('https://x/1')).toEqual(certificate);
    expect(await store.get('https://x/2')).toBeUndefined();
    expect(await store.get('https://x/expired')).toBeUndefined();
  });

  // No wall-clock bound (1.5 s before, which a loaded machine can exceed): the silent connection never answers, so
  // only the store's own timeout can end its get and put; unbounded, they would hang until the test's timeout.
  it('answers a miss, quickly, when Redis is down or does not answer', async () => {
    const warnings: unknown[] = [];
    const logger = { warn: ((message: string) => warnings.push(message)) as never };
    // Nothing listens there: the ingress's fail-fast producer connection refuses commands at once.
    const down = createRedisConnection({ url: `redis://127.0.0.1:${await freePort()}`, host: '127.0.0.1', port: 6379 }, 'producer');
    // A Redis that takes the commands and never answers them.
    const silent = { get: () => new Promise(() => undefined), set: () => new Promise(() => undefined) } as unknown as Redis;
    try {
      for (const connection of [down, silent]) {
        const store = new RedisPaypalCertificateStore({ keyPrefix: `${ns.prefix}:unit`, timeoutMs: 200, logger });
        store.use(connection);
        expect(await store.get('https://x/1')).toBeUndefined();
        await store.put('https://x/1', certificate);
      }
      expect(warnings.length).toBeGreaterThan(0);
    } finally {
      down.disconnect();
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
