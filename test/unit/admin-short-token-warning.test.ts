/**
 * The admin API shares the ingress's port, and its wrong-token budget bounds guesses per address, not across many:
 * a short ADMIN_API_TOKEN is said at start, in one line naming the variable, its length and how to make a better one.
 * Not refused (the README's local example is 15 characters; a deployment that set one must keep starting). Tokens of
 * 16 to 31 characters used to pass without a word.
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
  it.each(['dev-admin-token', 'a'.repeat(31)])('warns about a token under 32 characters (%p), naming the variable, its length, why and a command for a better one', (token) => {
    const warnings = warningsFor(token);
    expect(warnings).toEqual([
      `ADMIN_API_TOKEN is ${token.length} characters: the wrong-token budget (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE) bounds guesses per client address, not across many, so a short token can still be guessed; use 32 or more random characters (openssl rand -hex 20)`,
    ]);
  });

  it.each([undefined, '', 'a'.repeat(32), 'x'.repeat(40)])('says nothing about %p', (token) => {
    expect(warningsFor(token)).toEqual([]);
  });
});
