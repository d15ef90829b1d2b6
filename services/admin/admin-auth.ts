import type { NextFunction, Request, Response } from 'express';
import { SharedToken } from '../shared/crypto/shared-token.js';
import { AppError } from '../shared/errors/app-error.js';

/**
 * Bearer-token guard for the admin API (compared as a {@link SharedToken}: constant time, length hidden). No token
 * configured: every admin request is refused.
 */
export function adminAuth(token: string | undefined) {
  const expected = token ? new SharedToken(token) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) throw new AppError('FORBIDDEN', 'Admin API is disabled: ADMIN_API_TOKEN is not set');
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const ok = expected.matches(match?.[1]);
    if (!ok) {
      // RFC 6750: a 401 names the scheme it wants, so clients and tools know to send a bearer token.
      res.setHeader('WWW-Authenticate', `Bearer realm="admin"${match ? ', error="invalid_token"' : ''}`);
      throw new AppError('UNAUTHORIZED', 'Missing or invalid admin token');
    }
    next();
  };
}
