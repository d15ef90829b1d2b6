import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Server } from 'node:http';
import { adminRouter } from '../../services/admin/admin-router.js';
import type { EventAdminService } from '../../services/admin/event-admin-service.js';
import { errorMiddleware } from '../../services/shared/http/error-middleware.js';
import type { Logger } from '../../services/shared/logging/logger.js';

/**
 * Where a PostgreSQL data exception (SQLSTATE class 22) becomes a 400: only from the statements whose variable values
 * are all the request's validated filter (list, counts, a status-wide replay), should a value the filters' own checks
 * missed reach PostgreSQL. Anywhere else a class-22 error may be a bug of ours, and stays a logged 500.
 */

const TOKEN = 'adm_unit_data_exceptions';
const dataException = (code: string) => Object.assign(new Error(`a data exception ${code}`), { code });
/** TypeORM's QueryFailedError carries the driver's error as `driverError`. */
const wrapped = (code: string) => Object.assign(new Error('query failed'), { driverError: dataException(code) });

const lines: { level: string; message: string; meta: Record<string, unknown> }[] = [];
const logger = {
  isLevelEnabled: () => true,
  log: (level: string, message: string, meta: Record<string, unknown>) => lines.push({ level, message, meta }),
  warn: (message: string, meta: Record<string, unknown>) => lines.push({ level: 'warn', message, meta }),
  error: (message: string, meta: Record<string, unknown>) => lines.push({ level: 'error', message, meta }),
} as unknown as Logger;

const events = {
  list: () => Promise.reject(dataException('22008')),
  counts: () => Promise.reject(wrapped('22021')),
  replayAll: () => Promise.reject(dataException('22P02')),
  get: () => Promise.reject(dataException('22P02')),
  replayIds: () => Promise.reject(dataException('22P02')),
} as unknown as EventAdminService;

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const app = express();
  app.use(adminRouter({ token: TOKEN, events }));
  app.use(errorMiddleware(logger));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server?.close();
});

const request = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, json: (await response.json()) as { code?: string; message?: string } };
};

describe('a PostgreSQL data exception', () => {
  it.each([
    ['GET', '/admin/events?provider=stripe', undefined, '22008'],
    ['GET', '/admin/events/counts', undefined, '22021'],
    ['POST', '/admin/events/replay', { status: 'DEAD_LETTER', provider: 'stripe' }, '22P02'],
  ] as const)('from the filter statement of %s %s is a 400, and logged with its SQLSTATE', async (method, path, body, sqlState) => {
    lines.length = 0;
    const response = await request(method, path, body);
    expect(response.status).toBe(400);
    expect(response.json.code).toBe('BAD_REQUEST');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', message: 'request refused by PostgreSQL as bad input', meta: expect.objectContaining({ sqlState }) })]);
  });

  it.each([
    ['GET', '/admin/events/0b7e4c1e-3f43-4e59-9a0e-2d7c1f6a1b11', undefined],
    ['POST', '/admin/events/replay', { ids: ['0b7e4c1e-3f43-4e59-9a0e-2d7c1f6a1b11'] }],
  ] as const)('anywhere else (%s %s) stays a 500, logged as an error: it may be a bug of ours', async (method, path, body) => {
    lines.length = 0;
    const response = await request(method, path, body);
    expect(response.status).toBe(500);
    expect(response.json.code).toBe('INTERNAL');
    expect(lines).toEqual([expect.objectContaining({ level: 'error', message: 'unhandled error' })]);
  });
});
