import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../shared/errors/app-error.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Bearer-token guard for the admin API. Both sides are hashed to equal-length digests before a constant-time
 * comparison, so neither the token's length nor its prefix leaks through timing. No token configured: every
 * admin request is refused.
 */
export function adminAuth(token: string | undefined) {
  const expected = token ? digest(token) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) throw new AppError('FORBIDDEN', 'Admin API is disabled: ADMIN_API_TOKEN is not set');
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const supplied = digest(match?.[1] ?? '');
    // Always compare, even when the header is missing, so every refusal costs the same.
    const ok = timingSafeEqual(supplied, expected) && match !== null;
    if (!ok) {
      // RFC 6750: a 401 names the scheme it wants, so clients and tools know to send a bearer token.
      res.setHeader('WWW-Authenticate', `Bearer realm="admin"${match ? ', error="invalid_token"' : ''}`);
      throw new AppError('UNAUTHORIZED', 'Missing or invalid admin token');
    }
    next();
  };
}
