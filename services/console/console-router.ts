import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Response } from 'express';
import { AppError } from '../shared/errors/app-error.js';

/**
 * The console's Content-Security-Policy: everything from this origin and nothing else, no inline script or style,
 * API calls to this origin only, no framing, no form posting anywhere (sign-in is handled by script; should the
 * script not run, the browser submits nothing).
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where `npm run build` put the console: `dist/console`. Compiled, this file is dist/services/console/, so that is
 * two folders up; run from the sources (tsx, tests) it is the repository's dist/console.
 */
export function defaultConsoleAssetsDir(): string {
  const up = path.resolve(here, '../..');
  return path.basename(up) === 'dist' ? path.join(up, 'console') : path.join(up, 'dist', 'console');
}

const secureHeaders = (res: Response) => {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
};

/**
 * `GET /console`: the event console, a static single-page app built by `npm run build` (scripts/build-console.mjs).
 * `/console/` redirects to `/console` (relative, so a path prefix in front of the service keeps working: the page
 * refers to its assets and to the admin API by relative URLs). The page is revalidated on every load (`no-cache`,
 * ETag); its scripts and styles have content hashes in their names and are cached for a year (`immutable`). Everything it loads comes from this origin; its data comes from
 * the admin API with the token the operator signs in with (held in the tab's sessionStorage, sent as a header).
 */
export function consoleRouter(options: { assetsDir?: string } = {}): Router {
  const router = Router();
  const assetsDir = () => options.assetsDir ?? defaultConsoleAssetsDir();

  router.get('/console', async (req, res) => {
    // Routing is not strict, so `/console/` lands here too; the page's relative URLs need `/console`.
    if (req.path.endsWith('/')) return res.redirect(308, '../console');
    const page = await readFile(path.join(assetsDir(), 'index.html')).catch(() => undefined);
    if (!page) throw new AppError('SERVICE_UNAVAILABLE', 'The console is not built: run npm run build');
    secureHeaders(res);
    // Revalidated on every load; the ETag is the page's content, so a new build is picked up at once.
    const etag = `"${createHash('sha256').update(page).digest('base64url').slice(0, 27)}"`;
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', etag);
    if (req.headers['if-none-match'] === etag) return res.status(304).end();
    res.type('html').send(page);
  });
  const statics = new Map<string, ReturnType<typeof express.static>>();
  router.use('/console/assets', (req, res, next) => {
    const dir = path.join(assetsDir(), 'assets');
    let serve = statics.get(dir);
    if (!serve) statics.set(dir, (serve = express.static(dir, { immutable: true, maxAge: '365d', index: false, redirect: false, fallthrough: true })));
    secureHeaders(res);
    serve(req, res, next);
  });
  return router;
}
