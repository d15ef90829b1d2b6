import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * Sends `body` as JSON with an ETag over its bytes, and 304 with no body when the client already has them
 * (`If-None-Match`): the console polls these answers, and most polls find nothing changed. Saves the transfer
 * and the client's re-render, not the query (the answer has to be built to be compared).
 */
export function sendJsonWithEtag(req: Request, res: Response, body: unknown, status = 200): void {
  const json = JSON.stringify(body);
  const etag = `W/"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
  res.setHeader('ETag', etag);
  const match = req.headers['if-none-match'];
  if (status === 200 && typeof match === 'string' && match.split(/\s*,\s*/).includes(etag)) {
    res.status(304).end();
    return;
  }
  res.status(status).type('application/json').send(json);
}
