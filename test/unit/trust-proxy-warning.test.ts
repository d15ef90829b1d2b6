/**
 * TRUST_PROXY=true is accepted (the README listed it; refusing it would stop a deployment that set it from starting
 * after an upgrade), but it lets a client choose the address its failed verifications are counted under: the
 * service says so at start, in one line that names the variable and what to set instead.
 */
import { describe, expect, it } from '@jest/globals';
import { createHttpApp } from '../../services/runtime/http-app.js';
import type { Logger } from '../../services/shared/logging/logger.js';

function warningsAt(trustProxy: string | undefined): string[] {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  const app = createHttpApp({
    trustProxy,
    logger,
    routers: [],
    health: { checks: {}, readinessChecks: [], maxHeapMb: 1024, isShuttingDown: () => false },
  });
  expect(app.get('trust proxy fn')).toBeDefined();
  return warnings;
}

describe('TRUST_PROXY at start', () => {
  it('warns about true, naming the variable and suggesting a hop count or addresses', () => {
    const warnings = warningsAt('true');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^TRUST_PROXY=true trusts every X-Forwarded-For entry, so clients choose their own address/);
    expect(warnings[0]).toContain('TRUST_PROXY=1');
    expect(warnings[0]).toContain('TRUST_PROXY=10.0.0.0/8');
    expect(warnings[0]).not.toContain('\n');
  });

  it.each([undefined, 'false', '1', '2', 'loopback, linklocal, uniquelocal', '10.0.0.0/8'])('says nothing about %s', (value) => {
    expect(warningsAt(value)).toEqual([]);
  });
});
