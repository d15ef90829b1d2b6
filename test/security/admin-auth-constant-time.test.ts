import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { NextFunction, Request, Response } from 'express';

/**
 * The admin token check hashes both sides to equal-length digests and compares them with timingSafeEqual, for
 * EVERY kind of request: missing header, wrong scheme, wrong length, near miss, right token. A statistical timing
 * test would be flaky; instead this proves the one constant-time code path is taken every time.
 */

const actualCrypto = await import('node:crypto');
const timingSafeEqual = jest.fn(actualCrypto.timingSafeEqual);
jest.unstable_mockModule('node:crypto', () => ({ ...actualCrypto, default: actualCrypto, timingSafeEqual }));
const { adminAuth } = await import('../../services/admin/admin-auth.js');
const { AppError } = await import('../../services/shared/errors/app-error.js');
const { ClientFailureLimiter } = await import('../../services/shared/http/client-failure-limiter.js');
// A budget none of these cases reaches (admin-auth-failure-budget.test.ts tests the budget).
const failures = () => new ClientFailureLimiter({ limit: 1_000 });

const TOKEN = 'the-admin-token-0123456789abcdef';
const guard = adminAuth({ token: TOKEN, failures: failures() });

function run(authorization: string | undefined): { passed: boolean; error?: unknown } {
  const req = { headers: authorization === undefined ? {} : { authorization }, ip: '203.0.113.9', socket: { remoteAddress: '203.0.113.9' }, app: { get: () => undefined } } as unknown as Request;
  let passed = false;
  try {
    guard(req, { setHeader: () => undefined } as unknown as Response, (() => {
      passed = true;
    }) as NextFunction);
    return { passed };
  } catch (error) {
    return { passed, error };
  }
}

beforeEach(() => {
  timingSafeEqual.mockClear();
});

describe('admin token comparison', () => {
  const wrong: [string, string | undefined][] = [
    ['missing header', undefined],
    ['empty header', ''],
    ['scheme only', 'Bearer '],
    ['other scheme', `Basic ${TOKEN}`],
    ['no scheme', TOKEN],
    ['one character short', `Bearer ${TOKEN.slice(0, -1)}`],
    ['one character long', `Bearer ${TOKEN}0`],
    ['last character wrong', `Bearer ${TOKEN.slice(0, -1)}g`],
    ['first character wrong', `Bearer x${TOKEN.slice(1)}`],
    ['much longer', `Bearer ${TOKEN.repeat(50)}`],
    ['much shorter', 'Bearer t'],
    ['garbage', 'Bearer \u0000\u00ff'],
  ];

  it.each(wrong)('%s: refused with 401 after one constant-time comparison of two SHA-256 digests', (_name, header) => {
    const { passed, error } = run(header);
    expect(passed).toBe(false);
    expect(error).toBeInstanceOf(AppError);
    expect((error as InstanceType<typeof AppError>).statusCode).toBe(401);
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    const [supplied, expected] = timingSafeEqual.mock.calls[0] as unknown as [Buffer, Buffer];
    expect(supplied).toHaveLength(32);
    expect(expected).toHaveLength(32);
  });

  it('the right token passes through the same comparison', () => {
    expect(run(`Bearer ${TOKEN}`)).toEqual({ passed: true });
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    expect((timingSafeEqual.mock.calls[0] as unknown as Buffer[]).map((b) => b.length)).toEqual([32, 32]);
  });

  it('no token configured: refused with 403 before any comparison (nothing secret to compare)', () => {
    const disabled = adminAuth({ token: undefined, failures: failures() });
    expect(() => disabled({ headers: { authorization: `Bearer ${TOKEN}` } } as unknown as Request, {} as Response, () => undefined)).toThrow(
      expect.objectContaining({ statusCode: 403 }),
    );
  });
});
