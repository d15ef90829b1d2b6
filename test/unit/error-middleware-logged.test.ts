import { describe, expect, it } from '@jest/globals';
import type { Request, Response } from 'express';
import { DependencyUnavailableError } from '../../services/shared/errors/app-error.js';
import { errorMiddleware } from '../../services/shared/http/error-middleware.js';
import type { Logger } from '../../services/shared/logging/logger.js';

/** Runs the error middleware on `error`; returns the status sent and the warn lines written. */
function handle(error: unknown): { status: number; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message), error: (message: string) => warnings.push(message) } as unknown as Logger;
  let status = 0;
  const res = { headersSent: false, setHeader: () => res, getHeader: () => undefined, removeHeader: () => undefined, status: (code: number) => ((status = code), res), json: () => res } as unknown as Response;
  // A request whose body was read (an incomplete one also gets Connection: close, which setHeader takes here).
  const req = { path: '/webhooks/paypal', originalUrl: '/webhooks/paypal', complete: true } as unknown as Request;
  errorMiddleware(logger)(error, req, res, () => undefined);
  return { status, warnings };
}

describe('error middleware: 503s already logged where they were raised', () => {
  it('writes no "request failed" line of its own for them (a client can cause one per request), but does for the others', () => {
    expect(handle(new DependencyUnavailableError('paypal-certificates', { logged: true }))).toEqual({ status: 503, warnings: [] });
    expect(handle(new DependencyUnavailableError('paypal-certificates'))).toEqual({ status: 503, warnings: ['request failed'] });
    expect(handle(new DependencyUnavailableError('database'))).toEqual({ status: 503, warnings: ['request failed'] });
  });
});
