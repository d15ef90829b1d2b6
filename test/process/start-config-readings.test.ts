/**
 * What a real process makes of configuration it takes but reads with care: enum values with blanks around them (read
 * as integers are, not refused), and an ADMIN_API_TOKEN short enough to guess (one warning at start, not a refusal).
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import { waitFor } from '../support/wait-for.js';

let bed: ProcessTestBed;

beforeAll(async () => {
  bed = await createProcessTestBed();
}, 120_000);

afterAll(async () => bed?.close());

const records = (logs: string[]) =>
  logs.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

it('SERVICE_ROLE and LOG_LEVEL with blanks around them: the role starts (they used to stop the start, while " 8080 " was taken)', async () => {
  const worker = await (await bed.serviceProcess({ SERVICE_ROLE: ' worker ', LOG_LEVEL: ' info' })).start();
  await waitFor('the worker to say it started', async () => records(worker.logs).some((record) => record.message === 'service started'), { timeoutMs: 60_000 });
  expect(records(worker.logs).find((record) => record.message === 'service started')).toMatchObject({ role: 'worker' });
  await bed.killProcesses();
}, 120_000);

it('ADMIN_API_TOKEN under 32 characters: one warning at start saying why and how to make a better one', async () => {
  const token = 'twenty-char-token-20';
  const ingress = await (await bed.serviceProcess({ SERVICE_ROLE: 'ingress', ADMIN_API_TOKEN: token })).start();
  const warnings = () => records(ingress.logs).filter((record) => String(record.message).startsWith('ADMIN_API_TOKEN is'));
  await waitFor('the short-token warning', async () => warnings().length > 0, { timeoutMs: 60_000 });
  // The admin API still answers the token: a warning, not a refusal.
  const answer = await fetch(`${ingress.baseUrl}/admin/events?limit=1`, { headers: { authorization: `Bearer ${token}` } });
  expect(answer.status).toBe(200);
  expect(warnings()).toEqual([
    expect.objectContaining({
      level: 'warn',
      message:
        'ADMIN_API_TOKEN is 20 characters: the wrong-token budget (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE) bounds guesses per client address, not across many, so a short token can still be guessed; use 32 or more random characters (openssl rand -hex 20)',
    }),
  ]);
  await bed.killProcesses();
}, 120_000);
