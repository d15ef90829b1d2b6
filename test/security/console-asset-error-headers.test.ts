import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHttpApp } from '../../services/runtime/http-app.js';
import { consoleRouter } from '../../services/console/console-router.js';
import { createLogger } from '../../services/shared/logging/logger.js';

/**
 * Review (bad-input-review): a Range past the end of a console asset is refused by serve-static with 416, after it
 * set the file's headers. The error went out in the contract's shape but labelled `text/javascript`, with the file's
 * ETag and Last-Modified and `Cache-Control: public, max-age=31536000, immutable` (a cache could keep the error as the
 * asset for a year), and with the message "Bad request" and code BAD_REQUEST for a 416.
 */

let dir: string;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'console-assets-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(path.join(dir, 'assets', 'app-TEST.js'), 'console.log("console");\n');
  const app = createHttpApp({
    logger: createLogger('test'),
    routers: [consoleRouter({ assetsDir: dir })],
    health: { checks: {}, readinessChecks: [], maxHeapMb: 1024, isShuttingDown: () => false },
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('an asset request refused after the file was found', () => {
  it('a Range past the end: 416 as JSON in the error shape, with none of the file’s caching headers', async () => {
    const response = await fetch(`${baseUrl}/console/assets/app-TEST.js`, { headers: { range: 'bytes=999999-', 'x-correlation-id': 'range-past-end' } });
    expect(response.status).toBe(416);
    expect({
      contentType: response.headers.get('content-type'),
      cacheControl: response.headers.get('cache-control'),
      etag: response.headers.get('etag'),
      lastModified: response.headers.get('last-modified'),
      // RFC 9110 15.5.17: a 416 says how long the representation is.
      contentRange: response.headers.get('content-range'),
    }).toEqual({ contentType: 'application/json; charset=utf-8', cacheControl: null, etag: null, lastModified: null, contentRange: 'bytes */24' });
    expect(await response.json()).toEqual({
      statusCode: 416,
      timestamp: expect.any(String),
      path: '/console/assets/app-TEST.js',
      message: 'Range Not Satisfiable',
      correlationId: 'range-past-end',
      traceId: expect.any(String),
      code: 'RANGE_NOT_SATISFIABLE',
    });
  });

  it('the asset itself is still served with its caching headers, and a Range within it as 206', async () => {
    const whole = await fetch(`${baseUrl}/console/assets/app-TEST.js`);
    expect({ status: whole.status, cacheControl: whole.headers.get('cache-control'), etag: Boolean(whole.headers.get('etag')) }).toEqual({
      status: 200,
      cacheControl: 'public, max-age=31536000, immutable',
      etag: true,
    });
    const part = await fetch(`${baseUrl}/console/assets/app-TEST.js`, { headers: { range: 'bytes=0-6' } });
    expect({ status: part.status, body: await part.text() }).toEqual({ status: 206, body: 'console' });
  });

  it.each(['/console/assets/..%2Findex.html', '/console/assets/%2e%2e/index.html', '/console/assets/%ZZ', '/console/assets/%00'])('%s: 404 in the error shape', async (url) => {
    const response = await fetch(`${baseUrl}${url}`);
    expect({ status: response.status, contentType: response.headers.get('content-type') }).toEqual({ status: 404, contentType: 'application/json; charset=utf-8' });
    expect(await response.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });
});
