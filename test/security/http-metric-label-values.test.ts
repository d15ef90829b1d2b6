import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';

/**
 * Every label value of the metrics that comes from a request must come from a small fixed set, or a client makes
 * series at will. `http_request_duration_seconds`'s `method` took the request's method: Node's parser accepts 35
 * (PROPFIND, MKCALENDAR, UNSUBSCRIBE…), and each, sent to an unknown path, made a series of its own per status code
 * (14 lines each), kept for the life of the process. Requests Node's parser refused were already `OTHER`.
 */
let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({ STRIPE_WEBHOOK_SECRET: 'whsec_metric_labels', LOG_LEVEL: 'error' });
}, 60_000);

afterAll(async () => app?.stop());

/** `method path` on a connection of its own; resolves with the status. */
function send(method: string, path: string): Promise<number> {
  const url = new URL(app.baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http_request_duration_seconds: method label values', () => {
  it("counts methods the service does not use as OTHER, whatever a client sends (before: one series per method)", async () => {
    const unusual = http.METHODS.filter((method) => !['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT'].includes(method));
    expect(unusual.length).toBeGreaterThan(20);
    for (const method of unusual) expect(await send(method, '/no-such-path')).toBe(404);
    expect(await send('POST', '/no-such-path')).toBe(404);
    const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
    const methods = new Set([...metrics.matchAll(/^http_request_duration_seconds_count\{method="([^"]*)"/gm)].map((match) => match[1]));
    expect([...methods].filter((method) => !['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'OTHER'].includes(method!))).toEqual([]);
    const other = /^http_request_duration_seconds_count\{method="OTHER",route="unmatched",status_code="404"\} (\d+)$/m.exec(metrics);
    expect(Number(other?.[1])).toBe(unusual.length);
  }, 60_000);
});
