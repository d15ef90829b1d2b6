/**
 * A destination's name is 1 to 64 letters, digits, `_`, `.` or `-` (it is a metrics label, a path segment of
 * /admin/destinations/{name}/pause and part of JetStream's Nats-Msg-Id). A name outside that stopped the start with
 * `destination "billing service": Invalid key in record`: neither the rule nor what was wrong with the name, so the
 * operator was left to guess (the quotes? the length? a reserved word?).
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const RULE = 'a destination name is 1 to 64 letters, digits, "_", "." or "-"';

const problemOf = (name: string): string => {
  try {
    parseRoutes(`destinations:\n  ${JSON.stringify(name)}: { url: "http://billing.internal/hooks" }\nroutes: []\n`, SOURCE);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('ROUTES_FILE destination names', () => {
  it.each([
    ['a space', 'billing service'],
    ['a colon', 'billing:eu'],
    ['a slash', 'billing/eu'],
    ['65 characters', 'b'.repeat(65)],
    ['no character', ''],
  ])('a name with %s stops the start with one line naming the file, the destination and the rule', (_case, name) => {
    const message = problemOf(name);
    expect(message).toBe(`${SOURCE}: destination ${JSON.stringify(name)}: ${RULE}`);
  });

  it('takes names within the rule', () => {
    for (const name of ['billing', 'billing.eu-1', 'B_2', 'b'.repeat(64)]) expect(problemOf(name)).toBe('accepted');
  });
});
