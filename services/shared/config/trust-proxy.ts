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

/**
 * The startup warning for a TRUST_PROXY that lets clients choose their own address, or undefined. `true` trusts every
 * X-Forwarded-For entry, so Express takes the left-most one, which the client wrote: the failed-verification budget
 * is then keyed on whatever a forger puts there, paired with the connecting address (rotated, it is never answered
 * 429; set to a victim's address from behind the victim's proxy, it spends the victim's budget). It is accepted all the same (the README listed it, and a deployment that set it must
 * not stop starting after an upgrade; a correctly signed request is never refused either way), with this warning. The
 * admin API's wrong-token budget does not take that address (admin-auth.ts).
 */
export function trustProxyWarning(value: string): string | undefined {
  if (parseTrustProxy(value) !== true) return undefined;
  return (
    'TRUST_PROXY=true trusts every X-Forwarded-For entry, so clients choose their own address (the key of their failed-verification ' +
    "budget), and the admin API's wrong-token budget is kept per connecting address instead (every client behind one proxy shares it); " +
    'set the number of proxies in front of the service (TRUST_PROXY=1) or their addresses or subnets (TRUST_PROXY=10.0.0.0/8)'
  );
}
