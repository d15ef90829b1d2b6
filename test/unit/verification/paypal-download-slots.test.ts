import { describe, expect, it } from '@jest/globals';
import { CertificateDownloadSlots, type DownloadSlot } from '../../../services/ingress/verification/paypal-download-slots.js';

describe('CertificateDownloadSlots', () => {
  it('gives a client at most its share, and everyone together at most the total', () => {
    const slots = new CertificateDownloadSlots({ maxTotal: 3, maxPerClient: 2 });
    const a1 = slots.tryAcquire('a') as DownloadSlot;
    const a2 = slots.tryAcquire('a') as DownloadSlot;
    expect(slots.tryAcquire('a')).toBe('client-busy');
    const b1 = slots.tryAcquire('b') as DownloadSlot;
    expect(slots.tryAcquire('c')).toBe('all-busy');
    expect(slots.inUse).toBe(3);

    // A slot given back twice counts once.
    a1.release();
    a1.release();
    expect(slots.inUse).toBe(2);
    expect(typeof slots.tryAcquire('a')).toBe('object');
    expect(slots.tryAcquire('a')).toBe('all-busy');
    a2.release();
    b1.release();
  });

  it('limits callers that name no client by the total only', () => {
    const slots = new CertificateDownloadSlots({ maxTotal: 3, maxPerClient: 1 });
    expect([slots.tryAcquire(undefined), slots.tryAcquire(undefined), slots.tryAcquire(undefined)].every((s) => typeof s === 'object')).toBe(true);
    expect(slots.tryAcquire(undefined)).toBe('all-busy');
  });
});
