/**
 * The admin API shares the ingress's port, and its wrong-token budget bounds guesses per address, not across many:
 * a short ADMIN_API_TOKEN is said at start, in one line naming the variable, its length and how to make a better one.
 * Not refused (the README's local example is 15 characters; a deployment that set one must keep starting).
 */
import { describe, expect, it } from '@jest/globals';
import { adminRouter } from '../../services/admin/admin-router.js';
import type { EventAdminService } from '../../services/admin/event-admin-service.js';
import type { Logger } from '../../services/shared/logging/logger.js';

function warningsFor(token: string | undefined): string[] {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  adminRouter({ token, logger, events: {} as EventAdminService });
  return warnings;
}

describe('ADMIN_API_TOKEN at start', () => {
  it('warns about a token under 16 characters, naming the variable, its length and a command for a better one', () => {
    const warnings = warningsFor('dev-admin-token');
    expect(warnings).toEqual([
      'ADMIN_API_TOKEN is 15 characters, short enough to guess from many addresses; use 16 or more random characters (openssl rand -hex 20)',
    ]);
  });

  it.each([undefined, '', 'a'.repeat(16), 'x'.repeat(40)])('says nothing about %p', (token) => {
    expect(warningsFor(token)).toEqual([]);
  });
});
