import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { HttpSink } from '../support/http-sink.js';
import { waitFor } from '../support/wait-for.js';
import { describeBrowser, screenshotsDir } from './support/browser.js';
import { startConsoleFixture, type ConsoleFixture } from './support/console-fixture.js';

/**
 * The console's Destinations view with destination protection, in a real browser against a real service process
 * (SERVICE_ROLE=all): pause a destination, see its events wait (held, no attempt used), resume it, see them go;
 * a circuit breaker's settings and a rate limit shown; a pause left over from a destination removed from ROUTES_FILE
 * shown and cleared; no serious accessibility violation.
 */

jest.setTimeout(120_000);

let fixture: ConsoleFixture;
const sink = new HttpSink();

const row = (page: Page, name: string) => page.getByRole('row', { name: new RegExp(`^${name}\\b`) });

describeBrowser('the Destinations view: pause, resume, waiting events', () => {
  beforeAll(async () => {
    fixture = await startConsoleFixture({
      token: 'adm_destinations_browser_41d2',
      stripeSecret: 'whsec_destinations_browser_stripe',
      sink,
      routes: (sinkUrl) => ({
        destinations: {
          billing: { url: `${sinkUrl}/billing`, circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 } },
          crm: { url: `${sinkUrl}/crm`, rateLimit: { perSecond: 50 } },
        },
        routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
      }),
      env: { POD_DELETION_COST_ENABLED: 'false' },
    });
  }, 120_000);

  afterAll(() => fixture?.close());

  it('pauses crm from the view, shows its event waiting while billing took it, resumes it and the event is delivered', async () => {
    const page = await fixture.signedInPage();
    await page.getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
    await expect(row(page, 'billing').textContent()).resolves.toContain('breaker: 5 failures, 30.0 s cooldown');
    await expect(row(page, 'crm').textContent()).resolves.toContain('≤ 50/s');

    await page.getByRole('button', { name: 'Pause crm' }).click();
    await page.locator('p.notice', { hasText: 'crm paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume crm' }).waitFor();
    const { id } = await fixture.sendStripe('invoice.paid');
    await waitFor('billing to have the event', () => sink.requestsFor(id).some((request) => request.path === '/billing'), { timeoutMs: 20_000 });
    await waitFor(
      'the view to show crm paused with one event waiting',
      async () => {
        await page.getByRole('link', { name: 'Destinations' }).click();
        const text = (await row(page, 'crm').textContent()) ?? '';
        return text.includes('paused') && /(^|[^0-9])1\s*event(?!s)/.test(text);
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    expect(sink.requestsFor(id).filter((request) => request.path === '/crm')).toEqual([]);
    const { rows } = await fixture.db.pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ status: 'PENDING', attempts: 0, last_error: 'waiting: crm paused' });
    const serious = (await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze()).violations.filter(
      (violation) => violation.impact === 'serious' || violation.impact === 'critical',
    );
    expect(serious.map((violation) => violation.id)).toEqual([]);
    await page.screenshot({ path: path.join(screenshotsDir, '10-destinations-paused.png'), fullPage: true });

    await page.getByRole('button', { name: 'Resume crm' }).click();
    await page.locator('p.notice', { hasText: 'crm resumed' }).waitFor();
    await waitFor('crm to have the event', () => sink.requestsFor(id).some((request) => request.path === '/crm'), { timeoutMs: 15_000 });
    await waitFor('the event COMPLETED', async () => (await fixture.db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]?.status === 'COMPLETED', { timeoutMs: 15_000 });
    await page.close();
  });

  it('shows a pause left recorded for a destination no longer in ROUTES_FILE, and clears it', async () => {
    // erp was paused, then removed from ROUTES_FILE: its pause stays recorded, as the service leaves it.
    await fixture.db.pool.query(`INSERT INTO destination_pauses (destination) VALUES ('erp')`);
    const page = await fixture.signedInPage();
    await page.getByRole('link', { name: 'Destinations' }).click();
    const leftovers = page.getByRole('region', { name: 'Pauses of destinations no longer in ROUTES_FILE' });
    await leftovers.waitFor();
    await expect(leftovers.getByRole('row', { name: /^erp\b/ }).textContent()).resolves.toContain('paused');
    // Configured destinations are not listed there.
    expect(await leftovers.getByRole('row', { name: /^(billing|crm)\b/ }).count()).toBe(0);
    const serious = (await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze()).violations.filter(
      (violation) => violation.impact === 'serious' || violation.impact === 'critical',
    );
    expect(serious.map((violation) => violation.id)).toEqual([]);
    await page.screenshot({ path: path.join(screenshotsDir, '11-destinations-removed-paused.png'), fullPage: true });

    await page.getByRole('button', { name: 'Clear pause of erp' }).click();
    await page.locator('p.notice', { hasText: 'erp: pause cleared' }).waitFor();
    await leftovers.waitFor({ state: 'detached' });
    const { rows } = await fixture.db.pool.query(`SELECT count(*)::int AS n FROM destination_pauses WHERE destination = 'erp'`);
    expect(rows[0].n).toBe(0);
    await page.close();
  });
});
