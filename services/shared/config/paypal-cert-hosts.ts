/**
 * PAYPAL_CERT_HOSTS entries (`host[:port]`, `*.domain[:port]`) as the rule PAYPAL-CERT-URL values are checked against.
 * In shared because config validation refuses a bad entry at start with the very parser the ingress's PayPal verifier uses.
 */
import { isIP } from 'node:net';

export interface HostRule {
  exact: Set<string>;
  /** `.example.com:443` style suffixes from `*.example.com[:port]` entries. */
  suffixes: { suffix: string; port: string }[];
}

/** Normalises allowlist entries the same way the WHATWG URL parser normalises the incoming cert URL. */
export function parseCertHosts(entries: readonly string[]): HostRule {
  const rule: HostRule = { exact: new Set(), suffixes: [] };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const wildcard = entry.startsWith('*.');
    let url: URL;
    try {
      // A path, query, userinfo or scheme (`http://…`), or a `:` with no port after it, is no `host[:port]`.
      if (/[/?#@\\]/.test(entry) || entry.endsWith(':')) throw new Error('not a host');
      url = new URL(`https://${wildcard ? entry.slice(2) : entry}`);
    } catch {
      throw new Error(`Invalid PayPal certificate host entry '${entry}' (expected host or host:port)`);
    }
    if (url.port === '0') throw new Error(`Invalid PayPal certificate host entry '${entry}' (port must be 1-65535)`);
    const port = url.port === '' ? '443' : url.port;
    if (wildcard) {
      if (isIP(stripBrackets(url.hostname)) !== 0) throw new Error(`Invalid PayPal certificate host entry '${entry}'`);
      rule.suffixes.push({ suffix: `.${url.hostname}`, port });
    } else {
      rule.exact.add(`${url.hostname}:${port}`);
    }
  }
  return rule;
}

/** An IPv6 literal's hostname without its brackets (`[::1]` → `::1`), the form isIP reads. */
export function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}
