/**
 * `{ "$all": [] }`: in MongoDB it matches no document; sift's matched every event, a missing field included. A list
 * rendered empty (a chart value with no items) so turned a filter meant to narrow a route into one that took every
 * event. Like `$and: []`, it stops the start, saying why.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const withFilter = (filter: string) => `destinations:\n  billing: { url: "http://billing.internal/hooks" }\nroutes:\n  - provider: stripe\n    filter: ${filter}\n    to: [billing]\n`;

describe('route filter $all', () => {
  it('an empty list stops the start (MongoDB matches nothing with it, sift took every event)', () => {
    expect(() => parseRoutes(withFilter('{ "body.tags": { "$all": [] } }'), SOURCE)).toThrow(
      `${SOURCE}: routes.0.filter: the query does not compile: $all takes a non-empty list of values (an empty one matches no event, as in MongoDB) (got [])`,
    );
  });

  it('a list of values is taken as before', () => {
    expect(() => parseRoutes(withFilter('{ "body.tags": { "$all": ["vip"] } }'), SOURCE)).not.toThrow();
  });
});
