/**
 * `transform: ""` (a value left empty, or a template that rendered nothing into it) stopped the start with
 * `routes.0.transform: must be a string (a JSONata expression)`: it is a string, so the line sent the operator looking
 * for a type problem that was not there. It says the expression is empty.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const withTransform = (value: string) => `destinations:\n  billing: { url: "http://billing.internal/hooks" }\nroutes:\n  - provider: stripe\n    transform: ${value}\n    to: [billing]\n`;

describe('ROUTES_FILE: an empty transform', () => {
  it('stops the start saying it is empty, not that it is no string', () => {
    expect(() => parseRoutes(withTransform('""'), SOURCE)).toThrow(
      `${SOURCE}: routes.0.transform: is empty (a JSONata expression is needed; leave transform out to send the original bytes)`,
    );
  });

  it('still names a transform that is no string as such', () => {
    expect(() => parseRoutes(withTransform('{ id: 1 }'), SOURCE)).toThrow(`${SOURCE}: routes.0.transform: must be a string (a JSONata expression)`);
    expect(() => parseRoutes(withTransform('3'), SOURCE)).toThrow(`${SOURCE}: routes.0.transform: must be a string (a JSONata expression)`);
  });
});
