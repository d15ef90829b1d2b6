import proxyaddr from 'proxy-addr';

/**
 * TRUST_PROXY as given to Express's `trust proxy` setting: `true` / `false`, a hop count (decimal digits), or
 * anything else as a string, which Express splits on commas and hands to proxy-addr.
 */
export function parseTrustProxy(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/**
 * Why Express would refuse TRUST_PROXY, or undefined when it takes it. Runs the same steps `app.set('trust proxy')`
 * does (express/lib/utils.js compileTrust: split on commas, trim, proxy-addr's compile), so a value accepted here
 * is never refused later, after migrations ran.
 */
export function trustProxyProblem(value: string): string | undefined {
  const parsed = parseTrustProxy(value);
  if (typeof parsed !== 'string') return undefined;
  const entries = parsed.split(',').map((entry) => entry.trim());
  if (entries.includes('')) return 'empty entry in the comma-separated list';
  try {
    proxyaddr.compile(entries);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
