import { describe, expect, it } from '@jest/globals';
import { FailedCertificateUrls } from '../../../services/ingress/verification/failed-certificate-urls.js';

describe('FailedCertificateUrls', () => {
  it('recalls a refusal until its TTL ends', () => {
    let now = 0;
    const failed = new FailedCertificateUrls({ ttlMs: 1000, now: () => now });
    failed.remember('https://a/1', 'HTTP 404');
    expect(failed.recall('https://a/1')).toBe('HTTP 404');
    expect(failed.recall('https://a/2')).toBeUndefined();
    now = 999;
    expect(failed.recall('https://a/1')).toBe('HTTP 404');
    now = 1000;
    expect(failed.recall('https://a/1')).toBeUndefined();
  });

  it('holds at most maxEntries URLs, forgetting the oldest first', () => {
    const failed = new FailedCertificateUrls({ maxEntries: 2, now: () => 0 });
    failed.remember('u1', 'x');
    failed.remember('u2', 'x');
    failed.remember('u1', 'y'); // refreshed: now the newest
    failed.remember('u3', 'x');
    expect([failed.recall('u1'), failed.recall('u2'), failed.recall('u3')]).toEqual(['y', undefined, 'x']);
  });
});
