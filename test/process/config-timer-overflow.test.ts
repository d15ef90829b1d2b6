/**
 * Millisecond settings are validated with no upper bound (integer(..., min) defaults max to MAX_SAFE_INTEGER), but
 * they end up in setTimeout, which takes at most 2^31-1 ms: a larger delay is replaced by 1 ms (TimeoutOverflowWarning).
 * So a "very large" value, the natural way to say "wait as long as it takes", silently means "do not wait at all":
 * - SHUTDOWN_TIMEOUT_MS=3000000000: every SIGTERM forces exit 1 at once ("drain did not finish in time"), cutting the
 *   drain of requests and jobs in flight;
 * - DELIVERY_TIMEOUT_MS=3000000000: every delivery "times out" after 1 ms, so every event ends in DEAD_LETTER;
 * - RECONCILER_INTERVAL_MS / RETENTION_INTERVAL_MS / WORKER_STALLED_INTERVAL_MS: their passes run back to back.
 * A routes file's `timeoutMs` is capped at 300000; the environment's equivalents should be refused at start too.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../services/shared/config/config.js';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_timer_overflow';
/** Above 2^31-1 ms (about 24.8 days), the largest delay setTimeout honours. */
const HUGE_MS = '3000000000';
/** 2^31-1: the largest value accepted, which must be honoured as written (not turned into 1 ms anywhere). */
const LARGEST_MS = '2147483647';

let bed: ProcessTestBed;
let routes: TempRoutesFile;

beforeAll(async () => {
  bed = await createProcessTestBed();
  // No timeoutMs: DELIVERY_TIMEOUT_MS applies.
  routes = writeRoutesFile({ destinations: { sink: { url: `${bed.sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['sink'] }] });
});

afterEach(() => bed.killProcesses());

afterAll(async () => {
  routes?.remove();
  await bed?.close();
});

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const child = await bed.serviceProcess({ STRIPE_WEBHOOK_SECRET: SECRET, ROUTES_FILE: routes.path, ...env });
  await child.start();
  await waitFor('ready', async () => (await fetch(`${child.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000 });
  return child;
}

describe('millisecond settings above setTimeout’s 2^31-1 ms limit', () => {
  it('SHUTDOWN_TIMEOUT_MS=2147483647 (the largest accepted): an idle service drains on SIGTERM and exits 0 (not a forced exit 1 after 1 ms)', async () => {
    const service = await start({ SHUTDOWN_TIMEOUT_MS: LARGEST_MS });
    service.signal('SIGTERM');
    const { code } = await service.exited(30_000);
    expect(service.jsonLogs().map((line) => line.message)).not.toContain('drain did not finish in time: forcing exit');
    expect(code).toBe(0);
  }, 90_000);

  it('DELIVERY_TIMEOUT_MS=2147483647 (the largest accepted): a delivery to a destination that answers at once succeeds (not "timed out" after 1 ms)', async () => {
    const service = await start({ DELIVERY_TIMEOUT_MS: LARGEST_MS, JOB_ATTEMPTS: '1' });
    const id = 'evt_delivery_timeout_overflow';
    const { body, headers } = signedStripeRequest(SECRET, { id });
    expect((await postWebhook(service.baseUrl, 'stripe', body, headers)).status).toBe(202);
    let row: { status: string; last_error: string | null } | undefined;
    await waitFor(
      'the event to finish',
      async () => {
        row = (await bed.db.pool.query<{ status: string; last_error: string | null }>(`SELECT status, last_error FROM webhook_events WHERE external_id = $1`, [id])).rows[0];
        return row?.status === 'COMPLETED' || row?.status === 'DEAD_LETTER';
      },
      { timeoutMs: 30_000 },
    );
    expect(row).toEqual({ status: 'COMPLETED', last_error: null });
  }, 90_000);

  it.each(['SHUTDOWN_TIMEOUT_MS', 'DELIVERY_TIMEOUT_MS', 'RECONCILER_INTERVAL_MS', 'RETENTION_INTERVAL_MS', 'WORKER_STALLED_INTERVAL_MS', 'WORKER_LOCK_DURATION_MS'])(
    '%s=3000000000 stops the start naming the variable (setTimeout would use 1 ms)',
    (name) => {
      expect(() => loadConfig({ [name]: HUGE_MS })).toThrow(new RegExp(`^Invalid configuration: ${name}: `));
    },
  );
});
