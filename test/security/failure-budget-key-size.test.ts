import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import proxyaddr from 'proxy-addr';
import { ClientFailureLimiter } from '../../services/shared/http/client-failure-limiter.js';

// A forced collection, so the heap measured is what the limiter keeps, not garbage waiting for the collector.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/**
 * The README promises the failed-verification budget costs "Up to 10,000 addresses … per minute and process (about
 * 2 MB)". With TRUST_PROXY=true (accepted, with a warning) Express's req.ip is the left-most X-Forwarded-For entry,
 * which proxy-addr does not check to be an address: the limiter's key is then whatever text the forger wrote, up to
 * Node's 16 KB of headers. 10,000 forged requests a minute (one per ~6 ms) then pin ~150 MB in every ingress
 * process, not ~2 MB. Observed against a running ingress (TRUST_PROXY=true, default limits): 10,000 forged Stripe
 * requests with a 15 kB X-Forwarded-For each, sent in 10 s, grew the heap from 47 MB to 284 MB, still held a minute
 * later; the chart's memory limit is 512Mi.
 */
// Express with `trust proxy` true: req.ip is proxyaddr(req, trust) with every hop trusted.
const ipFrom = (forwardedFor: string): string | undefined =>
  proxyaddr({ headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress: '203.0.113.9' } } as unknown as IncomingMessage, () => true);

describe('failed-verification budget: what one forged request can make the ingress keep', () => {
  it('10,000 forged X-Forwarded-For values keep about 2 MB, as documented, not 15 kB each (before: 144 MB)', () => {
    const limiter = new ClientFailureLimiter({ limit: 20, windowMs: 60_000, now: () => 0 });
    // Express with `trust proxy` true: req.ip is proxyaddr(req, trust) with every hop trusted.
    const trustAll = () => true;
    const clientOf = (forwardedFor: string): string | undefined =>
      proxyaddr({ headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress: '203.0.113.9' } } as unknown as IncomingMessage, trustAll);

    const before = heapUsed();
    for (let i = 0; i < limiter.maxClients; i++) {
      // A header string, as Node's parser makes one per request; the limiter keeps what keyFor makes of req.ip.
      const header = `forged-${i}-${'x'.repeat(15_000)}`;
      limiter.recordFailure(ClientFailureLimiter.keyFor(clientOf(header)));
    }
    const kept = heapUsed() - before;
    // Read after the measurement, so the limiter (and what it keeps) is still alive when the heap is measured.
    const clients = limiter.clients;
    // Documented: about 230 bytes a client, ~2 MB for 10,000 (before: 144 MB). Allow 10 MB. However the fix goes
    // (a key that is an address or a digest, or the socket's address when X-Forwarded-For names none), the bound holds.
    expect(Math.round(kept / 2 ** 20)).toBeLessThanOrEqual(10);
    expect(clients).toBeGreaterThan(0);
  });
});

describe('failed-verification budget: keys', () => {
  it('an X-Forwarded-For that names no address is keyed on the connection, so rewriting it earns no new budget', () => {
    const limiter = new ClientFailureLimiter({ limit: 20, windowMs: 60_000, now: () => 0 });
    for (let i = 0; i < 100; i++) limiter.recordFailure(ClientFailureLimiter.keyFor(ipFrom(`forged-${i}`), '203.0.113.9'));
    expect(limiter.clients).toBe(1);
    expect(limiter.failuresOf(ClientFailureLimiter.keyFor('203.0.113.9'))).toBe(100);
  });

  it('10,000 real addresses each followed by 15 kB of X-Forwarded-For keep about 2 MB, not the headers they were cut from', () => {
    // A key cut from the header (15 characters of "100.100.100.100, xxx…") is, to V8, a slice that keeps the whole
    // header alive: before the key was copied, 144 MB.
    const limiter = new ClientFailureLimiter({ limit: 20, windowMs: 60_000, now: () => 0 });
    const before = heapUsed();
    for (let i = 0; i < limiter.maxClients; i++) {
      const header = `100.100.${100 + (i % 150)}.${100 + Math.floor(i / 150)}, ${'x'.repeat(15_000)}`;
      limiter.recordFailure(ClientFailureLimiter.keyFor(ipFrom(header), '203.0.113.9'));
    }
    const kept = heapUsed() - before;
    const clients = limiter.clients;
    expect(Math.round(kept / 2 ** 20)).toBeLessThanOrEqual(10);
    expect(clients).toBe(limiter.maxClients);
  });
});
