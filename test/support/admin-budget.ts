/**
 * For tests of the admin API's wrong-token budget (ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE): admin requests from chosen
 * loopback source addresses (127.0.0.x: each a client address of its own to the service), and a start at a point of
 * the budget's fixed one-minute windows where the test's requests all fall in one window.
 */
import http from 'node:http';
import type { ProcessTestBed } from './process-test-bed.js';
import type { ServiceProcess } from './service-process.js';

export interface AdminBudgetIngressOptions {
  /** ADMIN_API_TOKEN. */
  token: string;
  /** ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: wrong tokens a client address gets a minute. */
  limit: number;
  /** Over the rest (TRUST_PROXY, LOG_LEVEL…). */
  env?: Record<string, string>;
}

/** An ingress process on `bed`'s database and queue with the admin API and its wrong-token budget, started. */
export async function startAdminBudgetIngress(bed: ProcessTestBed, { token, limit, env = {} }: AdminBudgetIngressOptions): Promise<ServiceProcess> {
  const ingress = await bed.serviceProcess({
    SERVICE_ROLE: 'ingress',
    STRIPE_WEBHOOK_SECRET: 'whsec_admin_budget',
    ADMIN_API_TOKEN: token,
    ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: String(limit),
    LOG_LEVEL: 'warn',
    ...env,
  });
  return ingress.start();
}

export interface AdminAnswer {
  status: number;
  retryAfter?: string;
  /** The error shape's `code`, when the body is one. */
  code?: string;
}

export interface AdminGetOptions {
  /** The source address (127.0.0.x). */
  from: string;
  /** Bearer token; none: no Authorization header. */
  token?: string;
  /** X-Forwarded-For to send (what a proxy, or a client choosing its own address, writes). */
  forwardedFor?: string;
}

/** GET /admin/events?limit=1 on the service at `baseUrl`, from `options.from`, on a connection of its own. */
export function adminGetFrom(baseUrl: string, { from, token, forwardedFor }: AdminGetOptions): Promise<AdminAnswer> {
  const url = new URL(baseUrl);
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: '/admin/events?limit=1', localAddress: from, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The budget's windows are fixed minutes from the service's start. Spends the budget of a throwaway address
 * (127.0.0.9, with `forwardedFor` if the test sends one) to read how long the current window has left (its 429's
 * Retry-After), and waits for the next window when fewer than `needSeconds` are left. Throws when 500 wrong tokens in
 * a row are all answered 401 (no budget at all).
 */
export async function startOfABudgetWindow(baseUrl: string, { needSeconds = 10, forwardedFor }: { needSeconds?: number; forwardedFor?: string } = {}): Promise<void> {
  const probe = () => adminGetFrom(baseUrl, { from: '127.0.0.9', token: 'probe', forwardedFor });
  let answer = await probe();
  for (let sent = 1; answer.status === 401 && sent < 500; sent++) answer = await probe();
  if (answer.status !== 429) throw new Error(`no wrong-token budget: ${answer.status} after 500 wrong tokens from one address`);
  const left = Number(answer.retryAfter);
  if (left < needSeconds) await new Promise((resolve) => setTimeout(resolve, (left + 1) * 1000));
}
