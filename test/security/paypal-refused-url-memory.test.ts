import { describe, expect, it } from '@jest/globals';
import v8 from 'node:v8';
import vm from 'node:vm';
import { FailedCertificateUrls } from '../../services/ingress/verification/failed-certificate-urls.js';
import { checkCertificateUrl, parseCertHosts } from '../../services/ingress/verification/paypal-certificate-url.js';

// A forced collection, so the heap measured is what the list keeps, not garbage waiting for the collector.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/**
 * The PayPal verifier remembers certificate URLs refused for good (a 404 for a made-up path) for 5 minutes, up to
 * 1,000 of them. With PAYPAL_CERT_HOSTS set any path on an allowed host is accepted, and the URL comes from an
 * unsigned header: a forger names paths as long as Node's 16 kB of headers, one new 404 each. Kept as text, 1,000 of
 * them held ~15 MB per ingress process for as long as the forger kept the list full.
 */
describe('refused PayPal certificate URLs: what forged URLs make the ingress keep', () => {
  it('1,000 refused 15 kB URLs keep well under 2 MB (before: ~15 MB)', () => {
    const failed = new FailedCertificateUrls({ now: () => 0 });
    const hosts = parseCertHosts(['certs.example.com']);
    const before = heapUsed();
    let last = '';
    for (let i = 0; i < 1000; i++) {
      // What the cache hands the list: the canonical href of a URL the allowlist accepted.
      const url = checkCertificateUrl(`https://certs.example.com/${i}/${'x'.repeat(15_000)}`, hosts);
      failed.remember(url.href, `certificate URL answered HTTP 404`);
      last = url.href;
    }
    const kept = heapUsed() - before;
    // Read after the measurement, so the list is still alive when the heap is measured.
    expect(failed.recall(last)).toBe('certificate URL answered HTTP 404');
    expect(Math.round(kept / 2 ** 10)).toBeLessThanOrEqual(2048);
  });

  it('a refusal is still recalled by its URL, and only by it', () => {
    const failed = new FailedCertificateUrls({ now: () => 0 });
    const long = `https://certs.example.com/${'y'.repeat(15_000)}`;
    failed.remember(long, 'certificate URL answered HTTP 404');
    expect(failed.recall(long)).toBe('certificate URL answered HTTP 404');
    expect(failed.recall(`${long}z`)).toBeUndefined();
    expect(failed.recall(long.slice(0, -1))).toBeUndefined();
  });
});
