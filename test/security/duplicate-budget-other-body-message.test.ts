/**
 * What the duplicate budget's 429 says when the refused webhook is a body never stored, sent under the (unsigned)
 * delivery id of a stored event: GitHub and `hmac` providers sign the body only, and key an event on its delivery id
 * and on its body's digest. Such a webhook is a duplicate by its id only, and its body is stored nowhere; the 429
 * said "this one is stored already", which told its sender (or whoever reads the logs) that the body it sent was
 * safely stored when it was not. Now it says that another body is stored under that delivery id and that this one
 * was not (answered after PostgreSQL), or, refused before PostgreSQL by an id this process remembers, that an event
 * is stored under the id and this request stored nothing (whether the body is that event's is not known then).
 * A re-send of the stored delivery itself still says it is stored already, also when it reaches the writer in the
 * same batch as the delivery that stores it (a copy sent at once, pipelined or on another connection).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { open, portOf, statusLines } from '../support/raw-http.js';
import { githubSignature, postWebhook } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'duplicate-budget-other-body-secret';
const LIMIT = 2;
const CLIENT = '198.51.100.44';
/** Seconds of the budget's window the scenario needs after the flood's refusal (it takes well under one). */
const WINDOW_LEFT_NEEDED_S = 15;

let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({
    GITHUB_WEBHOOK_SECRET: SECRET,
    DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: String(LIMIT),
    // The test's client reaches the ingress through a (loopback) proxy that names it in X-Forwarded-For.
    TRUST_PROXY: 'loopback',
  });
});

afterAll(async () => {
  await app?.stop();
});

let counter = 0;
/** A genuine GitHub delivery: its body, signature and (unsigned) delivery id. */
function delivery(): { body: string; headers: Record<string, string> } {
  const n = ++counter;
  const body = JSON.stringify({ action: 'opened', issue: { number: n, title: `issue ${n}` } });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': githubSignature(body, SECRET),
      'x-github-event': 'issues',
      'x-github-delivery': `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`,
    },
  };
}

const send = (webhook: { body: string; headers: Record<string, string> }, deliveryId?: string) =>
  postWebhook(app.baseUrl, 'github', webhook.body, {
    ...webhook.headers,
    ...(deliveryId === undefined ? {} : { 'x-github-delivery': deliveryId }),
    'x-forwarded-for': CLIENT,
  });

/**
 * Stores two events, then re-sends the first until the client's duplicate budget refuses it, with at least
 * WINDOW_LEFT_NEEDED_S seconds of the window left (otherwise again in the next window). Returns the second (stored,
 * never re-sent) and the refusal's message.
 */
async function spendBudget(): Promise<{ stored: { body: string; headers: Record<string, string> }; resentMessage: unknown }> {
  for (let round = 1; round <= 3; round++) {
    const flooded = delivery();
    const stored = delivery();
    for (const webhook of [flooded, stored]) expect((await send(webhook)).status).toBe(202);
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i <= LIMIT && refused === undefined; i++) {
      const answer = await send(flooded);
      if (answer.status === 429) refused = answer;
    }
    const retryAfter = Number(refused?.headers.get('retry-after') ?? 0);
    if (retryAfter >= WINDOW_LEFT_NEEDED_S) return { stored, resentMessage: refused!.json?.message };
    const nextWindow = Date.now() + (retryAfter + 1) * 1000;
    await waitFor('the next duplicate budget window', () => Date.now() > nextWindow, { timeoutMs: 70_000, intervalMs: 200 });
  }
  throw new Error('the duplicate budget never refused the re-sent delivery with enough of its window left');
}

describe("the duplicate budget's 429 for a body never stored, under a stored event's delivery id", () => {
  it('says another body is stored under the id and this one was not, not that it is stored already', async () => {
    const { stored, resentMessage } = await spendBudget();
    const storedId = stored.headers['x-github-delivery']!;

    // Answered after PostgreSQL: a duplicate by its id only (its body's digest is held by no event).
    const unseen = delivery();
    const afterStorage = await send(unseen, storedId);
    // Refused before PostgreSQL: the id is remembered now; another unseen body under it.
    const another = delivery();
    const beforeStorage = await send(another, storedId);
    // The bodies were never stored: under their own delivery ids they are new events.
    const own = [await send(unseen), await send(another)].map((answer) => answer.status);

    expect({
      resent: resentMessage,
      afterStorage: { status: afterStorage.status, message: afterStorage.json?.message },
      beforeStorage: { status: beforeStorage.status, message: beforeStorage.json?.message },
      own,
    }).toEqual({
      resent: expect.stringMatching(/^Too many duplicate webhooks from this address \(this one is stored already\); try again in \d+ s$/),
      afterStorage: {
        status: 429,
        message: expect.stringMatching(/^Too many duplicate webhooks from this address: another body is stored under this delivery id, and this one was not stored; try again in \d+ s$/),
      },
      beforeStorage: {
        status: 429,
        message: expect.stringMatching(/^Too many duplicate webhooks from this address: an event is stored under this delivery id, and this request stored nothing; try again in \d+ s$/),
      },
      own: [202, 202],
    });
  });

  it('says a copy of a delivery stored in the same batch is stored already, not that another body was not stored', async () => {
    await spendBudget();
    // One delivery sent twice at once (a sender's retry racing its first try): both copies reach the writer in one
    // batch, which stores the first. The second is that very body, stored; before, the writer answered a later copy
    // in its batch as a duplicate by its id only, and the 429 told the sender its body was not stored.
    const twice = delivery();
    const head = Object.entries({ ...twice.headers, 'x-forwarded-for': CLIENT, 'content-length': String(Buffer.byteLength(twice.body)) })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const request = `POST /webhooks/github HTTP/1.1\r\nHost: ingress\r\n${head}\r\n${twice.body}`;
    const connection = open(portOf(app));
    connection.socket.write(request + request);
    const answered = await connection.waitFor(() => statusLines(connection.state.raw).length === 2 && connection.state.raw.trimEnd().endsWith('}'), 10_000);
    connection.socket.destroy();
    const bodies = connection.state.raw.split('\r\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line.replace(/HTTP\/1\.1.*$/, '')) as Record<string, unknown>);
    const stored = await app.db.pool.query('SELECT 1 FROM webhook_events WHERE provider = $1 AND external_id = $2', ['github', twice.headers['x-github-delivery']]);

    expect({ answered, statuses: statusLines(connection.state.raw), second: bodies[1]?.message, stored: stored.rowCount }).toEqual({
      answered: true,
      statuses: ['HTTP/1.1 202 Accepted', 'HTTP/1.1 429 Too Many Requests'],
      second: expect.stringMatching(/^Too many duplicate webhooks from this address \(this one is stored already\); try again in \d+ s$/),
      stored: 1,
    });
  });
});
