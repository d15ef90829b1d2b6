import { ClientFailureLimiter } from './client-failure-limiter.js';

/**
 * The key a client's budgets are kept on (the webhook route's failed verifications and its share of the body budget
 * and of PayPal's certificate downloads; the admin API's wrong tokens): the connecting
 * address, and the address it forwards for when TRUST_PROXY resolves another one (`10.1.2.3 for 203.0.113.7`).
 *
 * Not the resolved address alone: TRUST_PROXY trusts every connection from the addresses it names to be a proxy, and
 * the chart names the private ranges, which every pod connects from. Keyed on the forwarded address alone, any pod
 * chose whose budget it spent: naming a real sender's address (one that comes through the Ingress controller) in
 * X-Forwarded-For, its forgeries spent that sender's failure budget (its next PayPal event with a certificate not
 * cached yet was refused 429) and its stalled bodies held that sender's share of the body budget (its webhooks
 * refused 503); naming `127.0.0.1`, it locked every operator behind `kubectl port-forward` out of the admin API.
 * Paired with the connecting address, a client naming another's address spends a budget of its own; behind a real
 * proxy each client it forwards for still has its own (the proxy writes their real addresses), so one client of the
 * proxy cannot spend another's.
 *
 * Both halves are what {@link ClientFailureLimiter.keyFor} makes of an address (an IP address, IPv6 grouped by /56;
 * text that is no address is keyed on the connection), so a key is at most two such addresses long: what the
 * budgets keep, and the warn lines that name a key, stay bounded whatever a client writes in X-Forwarded-For.
 *
 * @param connectingAddress the connection's (the socket's remote address)
 * @param resolvedAddress the client's as TRUST_PROXY resolves it (Express's `req.ip`); the connecting address when
 *   no proxy is trusted
 */
export function clientBudgetKey(connectingAddress: string | undefined, resolvedAddress: string | undefined): string {
  const connecting = ClientFailureLimiter.keyFor(connectingAddress);
  // No proxy trusted (the common case, once per webhook): one address, keyed once.
  if (resolvedAddress === connectingAddress) return connecting;
  const resolved = ClientFailureLimiter.keyFor(resolvedAddress, connectingAddress);
  return resolved === connecting ? connecting : `${connecting} for ${resolved}`;
}
