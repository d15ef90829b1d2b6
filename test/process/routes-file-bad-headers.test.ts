/**
 * A destination's static `headers` are taken as any string → string map. Header names and values HTTP cannot carry
 * pass the start and fail every delivery instead: undici refuses the request ("invalid authorization header",
 * "invalid header key", "invalid transfer-encoding header", a content-length that never matches the body), each attempt
 * is a network_error and every event routed there ends in DEAD_LETTER. The commonest way to get one is YAML's block
 * scalar (`Authorization: |` keeps a trailing newline), the same mistake ADMIN_API_TOKEN is checked for.
 * The README: "Configuration that cannot work stops the start with one line naming the file, the entry and the problem".
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_bad_headers';
let bed: ProcessTestBed;

beforeAll(async () => {
  bed = await createProcessTestBed();
});

afterAll(() => bed?.close());

const routesWithHeaders = (url: string, headersYaml: string) =>
  `destinations:\n  billing:\n    url: ${url}\n    headers:\n${headersYaml}routes:\n  - provider: stripe\n    to: [billing]\n`;

describe('ROUTES_FILE destination headers HTTP cannot send', () => {
  it.each([
    ['a block scalar value (trailing newline)', '      Authorization: |\n        Bearer abc\n'],
    ['a name with a space', '      "X Api Key": abc\n'],
    ['transfer-encoding', '      Transfer-Encoding: chunked\n'],
    ['content-length', '      Content-Length: "3"\n'],
  ])('%s is refused when the file is read, naming the destination and headers', (_what, headersYaml) => {
    expect(() => parseRoutes(routesWithHeaders('http://billing.internal/hooks', headersYaml))).toThrow(/^ROUTES_FILE: destination "billing": headers/);
  });

  it('the service does not start with `Authorization: |` (it started, and every event went to DEAD_LETTER)', async () => {
    const path = bed.writeFile('routes.yaml', routesWithHeaders(`${bed.sink.url}/in`, '      Authorization: |\n        Bearer abc\n'));
    const service = await bed.serviceProcess({ STRIPE_WEBHOOK_SECRET: SECRET, ROUTES_FILE: path, JOB_ATTEMPTS: '1' });
    await service.start({ waitForReady: false });
    // What happens today: the start succeeds and the event's only attempt fails inside undici.
    const started = await service.readyOrExited();
    if (started) {
      const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_bad_header' });
      await postWebhook(service.baseUrl, 'stripe', body, headers);
      let row: { status: string; last_error: string | null } | undefined;
      await waitFor(
        'the event to finish',
        async () => {
          row = (await bed.db.pool.query<{ status: string; last_error: string | null }>(`SELECT status, last_error FROM webhook_events WHERE external_id = 'evt_bad_header'`)).rows[0];
          return row?.status === 'COMPLETED' || row?.status === 'DEAD_LETTER';
        },
        { timeoutMs: 30_000 },
      );
      expect({ started, event: row }).toEqual({ started: false, event: undefined });
    }
    const { code } = await service.exited(30_000);
    expect(code).toBe(1);
    expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      expect.stringMatching(new RegExp(`^Failed to start: ROUTES_FILE ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: destination "billing": headers`)),
    ]);
  }, 120_000);
});
