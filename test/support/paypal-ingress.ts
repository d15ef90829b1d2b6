import type { PaypalFixture } from './paypal-fixture.js';
import { startInProcessService, type InProcessService } from './service-harness.js';
import type { TestDatabase } from './test-database.js';
import type { TestQueueNamespace } from './test-redis.js';

/**
 * An ingress in this process that verifies PayPal events signed by `paypal`: its database and queue namespace, the
 * fixture's TLS trust for certificate downloads, and `PAYPAL_CERT_HOSTS` the fixture's host unless `env` names others.
 * `env` adds to or overrides the rest (TRUST_PROXY, other providers' secrets, budgets).
 */
export function startPaypalIngress(
  paypal: PaypalFixture,
  storage: { db: TestDatabase; ns: TestQueueNamespace },
  env: { PAYPAL_WEBHOOK_ID: string } & Record<string, string | undefined>,
): Promise<InProcessService> {
  return startInProcessService(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: storage.db.url,
      REDIS_URL: storage.ns.redisUrl,
      QUEUE_PREFIX: storage.ns.prefix,
      PAYPAL_CERT_HOSTS: paypal.host,
      ...env,
    },
    { paypalDispatcher: paypal.agent },
  );
}
