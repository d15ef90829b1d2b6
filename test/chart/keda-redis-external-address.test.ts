import { describe, expect, it } from '@jest/globals';
import { releaseNamespace, renderChart } from './helm.js';

/**
 * The KEDA redis trigger's `address` is dialled by KEDA's operator, from KEDA's own namespace (`keda`), not by the
 * release's pods. A short (single-label) externalRedis.host such as `redis-master`, the Service of a Redis release
 * installed next to this one, resolves for the pods through their search path (`<release namespace>.svc.cluster.local`
 * first), but from the operator it resolves as `redis-master.keda.svc.cluster.local`: no such Service (or another
 * Redis of that name in KEDA's namespace). The scaler then fails every poll, and the workers sit at fallback.replicas
 * (or never scale) whatever the backlog. The bundled Redis is already named by its namespaced Service name (chart
 * 0.3.4); an external one given by a short name must be too. Names with a dot (`redis.data`, a FQDN) and IP addresses
 * resolve the same from any namespace and are left as given.
 */

function redisTriggerAddress(host: string, extra: string[] = []): string {
  const objects = renderChart(
    [],
    [
      'autoscaling.keda.enabled=true',
      'autoscaling.keda.trigger=redis',
      'redis.enabled=false',
      `externalRedis.host=${host}`,
      'externalRedis.port=6380',
      ...extra,
    ],
  );
  const scaled = objects.find((o) => o.kind === 'ScaledObject')!;
  return scaled.spec.triggers[0].metadata.address as string;
}

describe('KEDA redis trigger with an external Redis', () => {
  it('names a Redis Service given by its short name by its namespaced name, which KEDA’s operator resolves from its own namespace', () => {
    expect(redisTriggerAddress('redis-master')).toBe(`redis-master.${releaseNamespace}.svc:6380`);
  });

  it('leaves host names with a dot, and IP addresses, as given (they resolve the same from every namespace)', () => {
    expect(redisTriggerAddress('redis-master.data')).toBe('redis-master.data:6380');
    expect(redisTriggerAddress('webhooks.abc.cache.amazonaws.com')).toBe('webhooks.abc.cache.amazonaws.com:6380');
    expect(redisTriggerAddress('10.1.2.3')).toBe('10.1.2.3:6380');
  });

  it('takes autoscaling.keda.redis.address as given', () => {
    expect(redisTriggerAddress('redis-master', ['autoscaling.keda.redis.address=redis.example:6379'])).toBe('redis.example:6379');
  });
});
