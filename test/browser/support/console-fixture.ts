import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { expect } from '@jest/globals';
import { HttpSink } from '../../support/http-sink.js';
import { writeRoutesFile, type RoutesDocument } from '../../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../../support/service-harness.js';
import { freePort, ServiceProcess } from '../../support/service-process.js';
import { githubSignature, postWebhook, stripeSignature } from '../../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../../support/test-redis.js';
import { waitFor } from '../../support/wait-for.js';
import { buildConsole, launchChromium } from './browser.js';

/** What a console test needs started; only `token` is required. */
export interface ConsoleFixtureOptions {
  /** ADMIN_API_TOKEN: the token the test signs in with. */
  token: string;
  /**
   * `process` (default): the service as a real process (`services/main.ts`), for tests that read its logs or need it
   * apart from the test's own event loop. `in-process`: started inside the test process, faster to start.
   */
  service?: 'process' | 'in-process';
  /** STRIPE_WEBHOOK_SECRET and GITHUB_WEBHOOK_SECRET, also used by `sendStripe` and `sendGithub`. */
  stripeSecret?: string;
  githubSecret?: string;
  /** The ROUTES_FILE, given the URL of the destination sink. With routes and no `sink`, a sink answering 200. */
  routes?: (sinkUrl: string) => RoutesDocument;
  /** The local HTTP destination: started before the service, stopped by `close()`. */
  sink?: HttpSink;
  /** The service reaches Redis on this local port (a TcpProxy the test cuts) instead of the server's own. */
  redisPort?: number;
  /** The service reaches PostgreSQL on this local port (a TcpProxy the test cuts) instead of the server's own. */
  databasePort?: number;
  /** More service environment (SERVICE_ROLE defaults to `all`), overriding what the fixture sets. */
  env?: Record<string, string>;
}

/** An event the service accepted: its id and the provider's id (what the console's rows show). */
export interface SentEvent {
  id: string;
  externalId: string;
}

/** A running console: the service, its database and queue namespace, a browser; `close()` ends all of it. */
export interface ConsoleFixture {
  baseUrl: string;
  token: string;
  db: TestDatabase;
  ns: TestQueueNamespace;
  sink: HttpSink | undefined;
  /** The service process (its logs), when `service` is `process`. */
  serviceProcess: ServiceProcess | undefined;
  browser: Browser;
  /** Every page error of the pages opened through the fixture. */
  pageErrors: string[];
  /** A browser context of its own (its own sessionStorage), 1360×900 unless `options` say otherwise; closed by `close()`. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** A page in a new context of its own. */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** Opens the console on `page` and signs in with the token (Enter submits), until the events list shows. */
  signIn(page: Page): Promise<void>;
  /** A new page, signed in. */
  signedInPage(options?: BrowserContextOptions): Promise<Page>;
  /** Sends a signed Stripe event of `type` (a fresh provider id; `extra` fields added at the top level); expects 202. */
  sendStripe(type: string, extra?: Record<string, unknown>): Promise<SentEvent>;
  /** Sends a signed GitHub push (a fresh delivery id and body; `extra` fields added to the body); expects 202. */
  sendGithub(extra?: Record<string, unknown>): Promise<SentEvent>;
  statusOf(id: string): Promise<string | undefined>;
  waitForStatus(id: string, status: string): Promise<void>;
  close(): Promise<void>;
}

let counter = 0;
/** A label made unique in this test file (provider ids must differ, or the service takes them as duplicates). */
export const unique = (label: string) => `${label}_${Date.now().toString(36)}_${counter++}`;

/** `n` calls of `send`, four at a time (the service, the browser and the test share two cores). */
export async function sendMany<T>(n: number, send: () => Promise<T>): Promise<T[]> {
  const sent: T[] = [];
  for (let i = 0; i < n; i += 4) sent.push(...(await Promise.all(Array.from({ length: Math.min(4, n - i) }, send))));
  return sent;
}

/**
 * Starts what a console test needs: the console built into dist/console, a test database and queue namespace, the
 * destination sink and routes file if asked for, the service serving the console, and chromium. If a step fails,
 * what was started is ended before the error is thrown.
 */
export async function startConsoleFixture(options: ConsoleFixtureOptions): Promise<ConsoleFixture> {
  // Ended in reverse order by close(): the browser first, the database last.
  const cleanups: (() => Promise<void> | void)[] = [];
  const close = async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve().then(cleanup).catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  };
  try {
    // Before the service starts: it serves dist/console as it finds it then.
    buildConsole();
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const ns = createQueueNamespace();
    cleanups.push(() => ns.cleanup());
    const sink = options.sink ?? (options.routes ? new HttpSink() : undefined);
    if (sink) {
      await sink.start();
      cleanups.push(() => sink.stop());
    }
    const env: Record<string, string> = { SERVICE_ROLE: 'all', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ADMIN_API_TOKEN: options.token };
    if (options.redisPort !== undefined) {
      const redisUrl = new URL(ns.redisUrl);
      redisUrl.host = `127.0.0.1:${options.redisPort}`;
      env.REDIS_URL = redisUrl.toString();
    }
    if (options.databasePort !== undefined) {
      const databaseUrl = new URL(db.url);
      databaseUrl.host = `127.0.0.1:${options.databasePort}`;
      env.DATABASE_URL = databaseUrl.toString();
    }
    if (options.stripeSecret) env.STRIPE_WEBHOOK_SECRET = options.stripeSecret;
    if (options.githubSecret) env.GITHUB_WEBHOOK_SECRET = options.githubSecret;
    if (options.routes) {
      const routesFile = writeRoutesFile(options.routes(sink!.url));
      cleanups.push(() => routesFile.remove());
      env.ROUTES_FILE = routesFile.path;
    }
    Object.assign(env, options.env);

    let baseUrl: string;
    let serviceProcess: ServiceProcess | undefined;
    if (options.service === 'in-process') {
      const app: InProcessService = await startInProcessService(env);
      cleanups.push(() => app.stop());
      baseUrl = app.baseUrl;
    } else {
      const service = new ServiceProcess(env, await freePort());
      serviceProcess = service;
      cleanups.push(async () => {
        service.signal('SIGTERM');
        await service.exited().catch(() => service.kill());
      });
      await service.start();
      baseUrl = service.baseUrl;
    }

    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const contexts: BrowserContext[] = [];
    cleanups.push(async () => {
      for (const context of contexts) await context.close().catch(() => undefined);
    });
    const pageErrors: string[] = [];

    const newContext = async (contextOptions: BrowserContextOptions = {}) => {
      const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, ...contextOptions });
      contexts.push(context);
      context.on('page', (page) => page.on('pageerror', (error) => pageErrors.push(error.message)));
      return context;
    };
    const newPage = async (contextOptions?: BrowserContextOptions) => (await newContext(contextOptions)).newPage();
    const signIn = async (page: Page) => {
      await page.goto(`${baseUrl}/console`);
      await page.getByLabel('Admin token').fill(options.token);
      await page.getByLabel('Admin token').press('Enter');
      await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    };
    const accepted = async (response: Awaited<ReturnType<typeof postWebhook>>, externalId: string): Promise<SentEvent> => {
      expect(response.status).toBe(202);
      return { id: String(response.json!.id), externalId };
    };
    const statusOf = async (id: string) => (await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status as string | undefined;

    return {
      baseUrl,
      token: options.token,
      db,
      ns,
      sink,
      serviceProcess,
      browser,
      pageErrors,
      newContext,
      newPage,
      signIn,
      async signedInPage(contextOptions) {
        const page = await newPage(contextOptions);
        await signIn(page);
        return page;
      },
      async sendStripe(type, extra = {}) {
        const externalId = unique('evt');
        const body = JSON.stringify({ id: externalId, object: 'event', type, data: { object: { id: unique('in') } }, ...extra });
        const response = await postWebhook(baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, options.stripeSecret!) });
        return accepted(response, externalId);
      },
      async sendGithub(extra = {}) {
        const externalId = unique('delivery');
        // The body names its delivery: the service also takes a GitHub body it has seen (its digest) as a replay.
        const body = JSON.stringify({ ref: 'refs/heads/main', delivery: externalId, ...extra });
        const response = await postWebhook(baseUrl, 'github', body, {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': externalId,
          'x-hub-signature-256': githubSignature(body, options.githubSecret!),
        });
        return accepted(response, externalId);
      },
      statusOf,
      async waitForStatus(id, status) {
        await waitFor(`event ${id} to be ${status}`, async () => (await statusOf(id)) === status, { timeoutMs: 30_000 });
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
