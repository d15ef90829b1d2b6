/**
 * What ROUTES_FILE says about protecting a destination, resolved: its rate limit and its circuit breaker. Declared
 * here, in shared code, because the worker enforces it and the admin API shows it; both pass the file as loaded.
 */

/** The breaker's settings when `circuitBreaker: true` (or `{}`) turns it on without saying more. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerPolicy = { failureThreshold: 5, cooldownMs: 30_000 };

/** `circuitBreaker` as written: `true` (the defaults), `false` (off, also against `defaults`), or settings. */
export type CircuitBreakerSetting = boolean | { failureThreshold?: number; cooldownMs?: number };

export interface CircuitBreakerPolicy {
  /** Consecutive failed attempts (across every event and worker) that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit holds deliveries before one probe tests the destination. */
  cooldownMs: number;
}

export interface RateLimitPolicy {
  /** Deliveries started in any rolling second, across every worker process. */
  perSecond: number;
}

export interface DestinationPolicy {
  rateLimit?: RateLimitPolicy;
  circuitBreaker?: CircuitBreakerPolicy;
}

/** The parts of ROUTES_FILE a policy is read from (the loaded file passes as it is). */
export interface PolicySource {
  defaults?: { circuitBreaker?: CircuitBreakerSetting };
  destinations: Record<string, { rateLimit?: RateLimitPolicy; circuitBreaker?: CircuitBreakerSetting }>;
}

function resolveBreaker(setting: CircuitBreakerSetting | undefined): CircuitBreakerPolicy | undefined {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true) return { ...DEFAULT_CIRCUIT_BREAKER };
  return { failureThreshold: setting.failureThreshold ?? DEFAULT_CIRCUIT_BREAKER.failureThreshold, cooldownMs: setting.cooldownMs ?? DEFAULT_CIRCUIT_BREAKER.cooldownMs };
}

/**
 * A destination's policy: its own `circuitBreaker` wins (`false` turns it off); without one, `defaults.circuitBreaker`
 * applies; without either there is no breaker and every failed attempt counts, as before breakers existed.
 */
export function destinationPolicy(source: PolicySource | undefined, name: string): DestinationPolicy {
  const destination = source?.destinations[name];
  if (!destination) return {};
  const breaker = resolveBreaker(destination.circuitBreaker ?? source?.defaults?.circuitBreaker);
  return {
    ...(destination.rateLimit ? { rateLimit: { perSecond: destination.rateLimit.perSecond } } : {}),
    ...(breaker ? { circuitBreaker: breaker } : {}),
  };
}
