import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import { accessLogMiddleware } from '../../services/shared/http/access-log.js';
import { answerClientError } from '../../services/shared/http/client-error-response.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { currentContext } from '../../services/shared/logging/request-context.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { waitFor } from '../support/wait-for.js';

/** A logger that keeps each line with the request context it was written in (what the JSON format adds). */
function capturingLogger() {
  const lines: { level: string; message: string; meta: Record<string, unknown>; correlationId?: string }[] = [];
  const logger = {
    isLevelEnabled: () => true,
    log: (level: string, message: string, meta: Record<string, unknown>) => lines.push({ level, message, meta, correlationId: currentContext()?.correlationId }),
  } as unknown as Logger;
  return { logger, lines };
}

describe('requests Node refuses before any route', () => {
  it('are logged with the correlation id their answer carries, and counted', async () => {
    const { logger, lines } = capturingLogger();
    const socket = new PassThrough();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const error = Object.assign(new Error('Header overflow'), { code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from('POST /webhooks/stripe HTTP/1.1\r\nX-Huge: aaaa') });
    answerClientError(error, socket, logger);
    await new Promise((resolve) => socket.once('end', resolve));
    const answer = Buffer.concat(chunks).toString('latin1');
    const correlationId = /X-Correlation-Id: (\S+)/.exec(answer)?.[1];
    expect(answer.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(lines).toEqual([
      { level: 'info', message: 'request', meta: { method: 'POST', path: '/webhooks/stripe', statusCode: 431, durationMs: 0, outcome: 'HEADERS_TOO_LARGE' }, correlationId },
    ]);
    const series = await registry.getSingleMetricAsString('http_request_duration_seconds');
    expect(series).toContain('http_request_duration_seconds_count{method="POST",route="unmatched",status_code="431"} 1');
  });
});

describe('the access line', () => {
  it('names the path as requested, also under a router mounted on a path (the console assets)', async () => {
    const { logger, lines } = capturingLogger();
    const app = express();
    app.use(accessLogMiddleware(logger));
    const assets = express.Router();
    assets.get('/app.css', (_req, res) => void res.type('text/css').send('body{}'));
    app.use('/console/assets', assets);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/console/assets/app.css`)).status).toBe(200);
      await waitFor('the access line', async () => lines.length === 1);
      expect(lines.map((line) => line.meta.path)).toEqual(['/console/assets/app.css']);
    } finally {
      server.close();
    }
  });
});
