/**
 * GitHub (and `hmac` providers taking the id from a header) sign the body only, with no timestamp: the one thing
 * that keeps a captured delivery (body + X-Hub-Signature-256, as shown on the repository's "Recent deliveries" page)
 * from becoming a new event is the stored body digest (replay_key). Retention deletes COMPLETED rows after
 * RETENTION_COMPLETED_DAYS, replay key included, so from then on the same captured delivery is accepted as a NEW
 * event (202) and delivered again. Stripe, PayPal and Standard Webhooks are not affected: their signed timestamp
 * is far outside the tolerance by then.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { githubSignature, postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const GITHUB_SECRET = 'retention-replay-github-secret';
const PLAIN_SECRET = 'retention-replay-plain-secret';
const RETENTION_DAYS = 30;

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  dir = mkdtempSync(join(tmpdir(), 'replay-after-retention-'));
  const providersFile = join(dir, 'providers.yaml');
  // An `hmac` provider with the id in the (signed) body: no timestamp either, the body id is its one guard.
  writeFileSync(
    providersFile,
    ['providers:', '  plain:', '    type: hmac', '    header: X-Sig', '    algorithm: sha256', '    encoding: hex', `    secrets: [${PLAIN_SECRET}]`, ''].join('\n'),
  );
  app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
    PROVIDERS_FILE: providersFile,
  });
});

afterAll(async () => {
  await app?.stop();
  await ns?.cleanup();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const silent = { info() {}, warn() {} } as unknown as ConstructorParameters<typeof Retention>[0]['logger'];

describe('GitHub: a captured delivery stays a duplicate after retention', () => {
  it('re-sent after its event was completed and removed by retention, it is not a new event', async () => {
    const body = JSON.stringify({ action: 'created', sponsorship: { tier: { monthly_price_in_dollars: 100 } }, nonce: randomUUID() });
    const headers = (delivery: string) => ({
      'content-type': 'application/json',
      'x-github-event': 'sponsorship',
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
    });
    const first = await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()));
    expect(first.status).toBe(202);
    // Sanity: while the row exists, the replay is a duplicate.
    expect((await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()))).status).toBe(200);

    // The event was delivered and completed RETENTION_DAYS + 1 days ago; one real retention pass removes it.
    await db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() - make_interval(days => $2) WHERE id = $1`, [
      first.json!.id,
      RETENTION_DAYS + 1,
    ]);
    const deleted = await new Retention({ pool: db.pool, completedDays: RETENTION_DAYS, intervalMs: 3_600_000, logger: silent }).runOnce();
    expect(deleted).toBe(1);

    // The captured delivery, re-sent (a new delivery id, or the original one).
    const replayed = await postWebhook(app.baseUrl, 'github', body, headers(randomUUID()));
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE provider = 'github' AND status = 'PENDING'`);
    // Observed today: 202 {"duplicate":false} and a new PENDING row, which the worker delivers again.
    expect({ acceptedAsNewEvent: replayed.status === 202, pendingRows: rows[0]!.n }).toEqual({ acceptedAsNewEvent: false, pendingRows: 0 });
  });
});

/** Event `id` completed `days` ago (so that a retention of fewer days deletes it). */
async function completedDaysAgo(id: unknown, days: number): Promise<void> {
  await db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() - make_interval(days => $2) WHERE id = $1`, [id, days]);
}

const rowsOf = async (provider: string): Promise<number> =>
  (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_events WHERE provider = $1', [provider])).rows[0]!.n;

const githubDelivery = (body: string, delivery: string) => ({
  'content-type': 'application/json',
  'x-github-event': 'sponsorship',
  'x-github-delivery': delivery,
  'x-hub-signature-256': githubSignature(body, GITHUB_SECRET),
});

describe('the replay key of a deleted event (its tombstone) answers as the event did', () => {
  it('GitHub: a re-send after retention is 200 duplicate with the original event id, whatever its delivery id', async () => {
    const body = JSON.stringify({ action: 'created', nonce: randomUUID() });
    const delivery = randomUUID();
    const first = await postWebhook(app.baseUrl, 'github', body, githubDelivery(body, delivery));
    expect(first.status).toBe(202);
    await completedDaysAgo(first.json!.id, RETENTION_DAYS + 1);
    expect(await new Retention({ pool: db.pool, completedDays: RETENTION_DAYS, intervalMs: 3_600_000, logger: silent }).runOnce()).toBe(1);

    for (const resent of [delivery, randomUUID()]) {
      const again = await postWebhook(app.baseUrl, 'github', body, githubDelivery(body, resent));
      expect({ status: again.status, json: again.json }).toEqual({ status: 200, json: { id: first.json!.id, status: 'COMPLETED', duplicate: true } });
    }
    expect(await rowsOf('github')).toBe(0);
  });

  it('`hmac` with the id in the body: a re-send after retention is a duplicate', async () => {
    const body = JSON.stringify({ id: `ord_${randomUUID()}`, type: 'order.paid' });
    const headers = { 'content-type': 'application/json', 'x-sig': createHmac('sha256', PLAIN_SECRET).update(body).digest('hex') };
    const first = await postWebhook(app.baseUrl, 'plain', body, headers);
    expect(first.status).toBe(202);
    await completedDaysAgo(first.json!.id, RETENTION_DAYS + 1);
    expect(await new Retention({ pool: db.pool, completedDays: RETENTION_DAYS, intervalMs: 3_600_000, logger: silent }).runOnce()).toBe(1);

    const again = await postWebhook(app.baseUrl, 'plain', body, headers);
    expect({ status: again.status, json: again.json }).toEqual({ status: 200, json: { id: first.json!.id, status: 'COMPLETED', duplicate: true } });
    expect(await rowsOf('plain')).toBe(0);
  });

  it('a re-send while the retention pass that deletes its event is in flight is a duplicate, not a new event', async () => {
    // The race: the insert's snapshot predates the pass's commit (no tombstone in sight), and its unique index still
    // holds the deleted row's entry, so ON CONFLICT waits for the pass and then finds the key free.
    const body = JSON.stringify({ action: 'created', nonce: randomUUID() });
    const delivery = randomUUID();
    const first = await postWebhook(app.baseUrl, 'github', body, githubDelivery(body, delivery));
    expect(first.status).toBe(202);
    await completedDaysAgo(first.json!.id, RETENTION_DAYS + 1);

    // Hold the pass between its DELETE and its commit: an uncommitted tombstone of the same key makes the pass's
    // tombstone INSERT (which runs after the delete, in the same statement) wait for this transaction.
    const replayKey = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO webhook_event_tombstones (provider, replay_key, event_id) VALUES ('github', $1, gen_random_uuid())`, [replayKey]);
      const pass = new Retention({ pool: db.pool, completedDays: RETENTION_DAYS, intervalMs: 3_600_000, logger: silent }).runOnce();
      const waiting = (pattern: string) => async () =>
        (
          await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, [pattern])
        ).rows[0]!.n === 1;
      await waitFor('the retention pass to have deleted the event, uncommitted', waiting('WITH gone AS%'));

      const resent = postWebhook(app.baseUrl, 'github', body, githubDelivery(body, randomUUID()));
      let answered = false;
      void resent.finally(() => (answered = true));
      // Answered at once, or (the defect) waiting for the pass's commit: then let the pass finish and see.
      await waitFor('the re-send to be answered, or to wait for the pass', async () => answered || (await waiting('INSERT INTO webhook_events%')()));
      await holder.query('ROLLBACK');
      expect(await pass).toBe(1);
      const again = await resent;
      expect({ status: again.status, json: again.json }).toEqual({ status: 200, json: { id: first.json!.id, status: 'COMPLETED', duplicate: true } });
    } finally {
      await holder.end();
    }
    expect(await db.pool.query(`SELECT provider, external_id FROM webhook_events WHERE provider = 'github'`).then((r) => r.rows)).toEqual([]);
    const { rows } = await db.pool.query(`SELECT event_id FROM webhook_event_tombstones WHERE provider = 'github' AND replay_key = $1`, [replayKey]);
    expect(rows).toEqual([{ event_id: first.json!.id }]);
  });
});
