import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { buildConsole, launchChromium, skipBrowserTests } from './support/browser.js';

/**
 * A pause sent from the Destinations view while Redis does not answer is recorded (PostgreSQL) and takes effect once
 * Redis answers (the workers copy it within 5 s): the API answers 503 saying so. The view showed it as
 * "Pausing crm failed: Recorded, but not yet in effect …", and the API's text ended "try again": an operator read a
 * failure and sent it again. It now reads as what it is, and the pause shows once Redis is back, without a second click.
 */

const TOKEN = 'adm_destinations_redis_down_7c1e';
const describeBrowser = skipBrowserTests ? describe.skip : describe;
jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let service: ServiceProcess;
let browser: Browser;
const sink = new HttpSink();
const redis = new TcpProxy('127.0.0.1', 6379);

describeBrowser('the Destinations view while Redis does not answer', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    buildConsole();
    [db] = await Promise.all([createTestDatabase(), sink.start(), redis.start()]);
    ns = createQueueNamespace();
    routesFile = writeRoutesFile({ destinations: { crm: { url: `${sink.url}/crm` } }, routes: [{ provider: 'stripe', to: ['crm'] }] });
    const redisUrl = new URL(ns.redisUrl);
    redisUrl.host = `127.0.0.1:${redis.port}`;
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl.toString(),
        QUEUE_PREFIX: ns.prefix,
        ADMIN_API_TOKEN: TOKEN,
        ROUTES_FILE: routesFile.path,
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    await service.start();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.kill();
    await sink.stop();
    await redis.stop();
    routesFile?.remove();
    await db?.drop();
    await ns?.cleanup();
  });

  it('a pause recorded but not yet in effect is not shown as a failure, and shows as paused once Redis answers', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${service.baseUrl}/console`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('button', { name: 'Pause crm' }).waitFor();

    await redis.stop();
    await page.getByRole('button', { name: 'Pause crm' }).click();
    const message = page.locator('p.error', { hasText: 'Recorded, but not yet in effect' });
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    expect(text).toContain('Pause of crm:');
    expect(text).toContain('no need to send it again');
    expect(text).not.toMatch(/failed|try again/);

    await redis.restart();
    await waitFor(
      'the view to show crm paused without a second click',
      async () => {
        await page.getByRole('link', { name: 'Destinations' }).click();
        return (await page.getByRole('button', { name: 'Resume crm' }).count()) === 1;
      },
      { timeoutMs: 40_000, intervalMs: 1000 },
    );
    await context.close();
  });
});
