import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { find, parseExposition } from '../observability/support/prometheus-text.js';
import { startRawDestination, type RawDestination } from '../support/raw-destination.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination answering a status line whose status is not an HTTP status (RFC 9110 15: three digits, 100–599).
 * undici, the HTTP client, refuses `000`–`099` by a failed internal assertion (`ERR_ASSERTION`) and four digits or a
 * non-digit by its parser, destroying the connection either way; a three-digit `600`–`999` it passes on as the
 * answer's status. Before the fix a `0xx` attempt was recorded with the assertion's own multi-line text as its error
 * (`ERR_ASSERTION: The expression evaluated to a falsy value:\n\n  assert(statusCode >= 100)\n`), which says nothing
 * of the destination. What each answer makes of an attempt (README, "Destinations"):
 * - `000`–`099`, four digits, a non-digit: `network_error`, no status, the error naming what was wrong; the
 *   connection is closed, the next request goes on a new one;
 * - `600`–`999`: `http_error` with that status and the body, as RFC 9110 has a client treat an invalid status (as a
 *   5xx); the answer is complete, so its connection carries the next request as after a 500.
 * Every one is a failed attempt, retried and dead-lettered as any other.
 *
 * The destinations are raw sockets (test/support/raw-destination.ts): no HTTP server library writes such a line.
 */
jest.setTimeout(120_000);

const TIMEOUT_MS = 5000;
const BODY = 'boom';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** Status lines undici cannot take as an answer, and the error an attempt answered with one records. */
const REFUSED: [string, string, string][] = [
  ['099', 'HTTP/1.1 099 X', 'status 099 is not an HTTP status (100–599): the answer was refused'],
  ['099 without a reason phrase', 'HTTP/1.1 099', 'status 099 is not an HTTP status (100–599): the answer was refused'],
  ['000', 'HTTP/1.1 000 X', 'status 000 is not an HTTP status (100–599): the answer was refused'],
  ['1000', 'HTTP/1.1 1000 X', 'HTTPParserError: Response does not match the HTTP/1.1 protocol (Invalid response status)'],
  ['2x0', 'HTTP/1.1 2x0 OK', 'HTTPParserError: Response does not match the HTTP/1.1 protocol (Invalid status code)'],
];
/** Three-digit statuses above 599: undici passes them on, and the attempt is their http_error. */
const PASSED: [string, string, number][] = [
  ['600', 'HTTP/1.1 600 X', 600],
  ['999', 'HTTP/1.1 999 X', 999],
];

/** `statusLine` with a complete body. */
function answerWith(statusLine: string): string {
  return `${statusLine}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
}

function event(id: string): ForwardedEvent {
  return { id, provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{"a":1}'), contentType: 'application/json' };
}

/** Whatever escapes to the process while these tests run: a thrown assertion nothing caught would land here. */
const escaped: unknown[] = [];
const onEscaped = (error: unknown) => escaped.push(error);
const forwarders: HttpForwarder[] = [];
const destinations: RawDestination[] = [];

beforeAll(() => {
  process.on('uncaughtException', onEscaped);
  process.on('unhandledRejection', onEscaped);
});

afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((forwarder) => forwarder.close()));
  await Promise.all(destinations.splice(0).map((destination) => destination.close()));
  expect(escaped).toEqual([]);
});

afterAll(() => {
  process.off('uncaughtException', onEscaped);
  process.off('unhandledRejection', onEscaped);
});

/** A destination answering its first request with `first`, every later one (on any connection) 200. */
async function oddThenOk(first: string): Promise<RawDestination> {
  const destination = await startRawDestination((socket, index) => socket.write(index === 0 ? first : OK));
  destinations.push(destination);
  return destination;
}

function forwarder(): HttpForwarder {
  const created = new HttpForwarder({ defaultTimeoutMs: TIMEOUT_MS, defaultMaxConcurrency: 1 });
  forwarders.push(created);
  return created;
}

describe('HttpForwarder, a destination answering a status outside 100–599', () => {
  it.each(REFUSED)('%s: a network_error naming it, no status; the next request goes on a new connection', async (_, statusLine, error) => {
    const target = await oddThenOk(answerWith(statusLine));
    const sender = forwarder();
    const refused = await sender.forward(event('evt-odd'), { name: 'odd', url: target.url });
    expect(refused).toMatchObject({ succeeded: false, result: 'network_error', statusCode: null, error });
    const next = await sender.forward(event('evt-next'), { name: 'odd', url: target.url });
    expect(next).toMatchObject({ succeeded: true, result: 'success', statusCode: 200 });
    expect({ received: target.received, connections: target.connections }).toEqual({ received: ['evt-odd', 'evt-next'], connections: 2 });
  });

  it.each(PASSED)('%s: an http_error with that status and the body, as a 5xx; its connection carries the next request', async (_, statusLine, status) => {
    const target = await oddThenOk(answerWith(statusLine));
    const sender = forwarder();
    const failed = await sender.forward(event('evt-odd'), { name: 'odd', url: target.url });
    expect(failed).toMatchObject({ succeeded: false, result: 'http_error', statusCode: status, error: `HTTP ${status}: ${BODY}` });
    const next = await sender.forward(event('evt-next'), { name: 'odd', url: target.url });
    expect(next).toMatchObject({ succeeded: true, result: 'success', statusCode: 200 });
    expect({ received: target.received, connections: target.connections }).toEqual({ received: ['evt-odd', 'evt-next'], connections: 1 });
  });
});

describe('a worker process whose destinations answer statuses outside 100–599', () => {
  const SECRET = 'whsec_invalid_status';
  let db: TestDatabase;
  let ns: TestQueueNamespace;
  let routesFile: TempRoutesFile | undefined;
  let service: ServiceProcess | undefined;
  const targets = new Map<string, RawDestination>();

  beforeAll(async () => {
    db = await createTestDatabase();
    ns = createQueueNamespace();
  });

  afterAll(async () => {
    await service?.kill();
    await Promise.all([...targets.values()].map((target) => target.close()));
    routesFile?.remove();
    await ns?.cleanup();
    await db?.drop();
  });

  it('records each attempt as the forwarder does, retries it per JOB_ATTEMPTS, and keeps running', async () => {
    // One destination per answer, all on one route: every attempt of the event goes to each of them.
    const cases = [
      ...REFUSED.map(([label, statusLine, error]) => ({ label, statusLine, result: 'network_error', statusCode: null as number | null, error })),
      ...PASSED.map(([label, statusLine, status]) => ({ label, statusLine, result: 'http_error', statusCode: status as number | null, error: `HTTP ${status}: ${BODY}` })),
    ].map((entry, index) => ({ ...entry, name: `odd-${index}` }));
    for (const { name, statusLine } of cases) targets.set(name, await startRawDestination(answerWith(statusLine)));
    routesFile = writeRoutesFile({
      destinations: Object.fromEntries(cases.map(({ name }) => [name, { url: targets.get(name)!.url }])),
      routes: [{ provider: 'stripe', to: cases.map(({ name }) => name) }],
    });
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        ROUTES_FILE: routesFile.path,
        STRIPE_WEBHOOK_SECRET: SECRET,
        JOB_ATTEMPTS: '2',
        JOB_BACKOFF_MS: '10',
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    await service.start();

    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_invalid_status', type: 'invoice.paid' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const id = response.json!.id as string;

    const row = await waitFor(
      'the event dead-lettered',
      async () => {
        const { rows } = await db.pool.query<{ status: string; attempts: number }>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
        return rows[0]?.status === 'COMPLETED' || rows[0]?.status === 'DEAD_LETTER' ? rows[0] : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(row).toEqual({ status: 'DEAD_LETTER', attempts: 2 });

    const { rows: attempts } = await db.pool.query<{ destination: string; attempt: number; succeeded: boolean; status_code: number | null; error: string | null }>(
      'SELECT destination, attempt, succeeded, status_code, error FROM delivery_attempts WHERE event_id = $1 ORDER BY destination, attempt',
      [id],
    );
    const metrics = parseExposition(await (await fetch(`${service.baseUrl}/metrics`)).text());
    for (const { label, name, result, statusCode, error } of cases) {
      const target = targets.get(name)!;
      expect({ label, attempts: attempts.filter((attempt) => attempt.destination === name), received: target.received }).toEqual({
        label,
        attempts: [1, 2].map((attempt) => ({ destination: name, attempt, succeeded: false, status_code: statusCode, error })),
        received: [id, id],
      });
      expect({ label, attempts: find(metrics, 'webhook_delivery_attempts_total', { destination: name, result }).map((sample) => sample.value) }).toEqual({ label, attempts: [2] });
      // A refused answer's connection is closed: the retry came on a new one.
      if (result === 'network_error') expect({ label, connections: target.connections }).toEqual({ label, connections: 2 });
    }
    // Still running, nothing escaped to the process's last-resort handlers (services/main.ts logs those).
    expect(service.exitState()).toBeUndefined();
    expect(service.jsonLogs().filter((line) => typeof line.message === 'string' && /^unhandled/.test(line.message))).toEqual([]);
  });
});
