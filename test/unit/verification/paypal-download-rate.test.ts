import { describe, expect, it } from '@jest/globals';
import { CertificateDownloadRate } from '../../../services/ingress/verification/paypal-download-rate.js';

describe('CertificateDownloadRate', () => {
  it('lets a client start its limit of downloads per window, others theirs, and all of them again in the next window', () => {
    let now = 1_000_000;
    const rate = new CertificateDownloadRate({ limit: 2, windowMs: 60_000, now: () => now });
    expect([rate.tryStart('a'), rate.tryStart('a'), rate.tryStart('a')]).toEqual([true, true, false]);
    expect(rate.tryStart('b')).toBe(true);
    // A caller that names no client is not limited here.
    expect([rate.tryStart(undefined), rate.tryStart(undefined), rate.tryStart(undefined)]).toEqual([true, true, true]);

    now += 59_999;
    expect(rate.tryStart('a')).toBe(false);
    now += 1;
    expect([rate.tryStart('a'), rate.tryStart('a'), rate.tryStart('a')]).toEqual([true, true, false]);
  });

  it('counts at most maxClients clients, forgetting the one whose last download is oldest', () => {
    const rate = new CertificateDownloadRate({ limit: 1, maxClients: 2, now: () => 0 });
    expect(rate.tryStart('a')).toBe(true);
    expect(rate.tryStart('b')).toBe(true);
    expect(rate.tryStart('c')).toBe(true);
    // 'a' was forgotten to make room for 'c'; 'c' is still counted.
    expect(rate.tryStart('a')).toBe(true);
    expect(rate.tryStart('c')).toBe(false);
  });
});
