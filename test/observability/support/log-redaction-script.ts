/**
 * Run as a child process by log-secrets.test.ts: logs secrets the way careless code (or a client's echo) might, so
 * the test can check the logger's safety net on real stdout. Nothing is registered by hand: the secrets come from
 * the environment and from the real PROVIDERS_FILE and ROUTES_FILE, registered as the service does at start.
 */
import { loadProvidersFile } from '../../../services/ingress/verification/providers-file.js';
import { loadConfig } from '../../../services/shared/config/config.js';
import { registerConfiguredSecrets } from '../../../services/shared/logging/configured-secrets.js';
import { createLogger, flushLogs } from '../../../services/shared/logging/logger.js';
import { loadRoutesFile } from '../../../services/worker/routing/routes-file.js';

const config = loadConfig();
registerConfiguredSecrets(config, {
  providers: config.providers.providersFile ? loadProvidersFile(config.providers.providersFile) : undefined,
  routes: config.routesFile ? loadRoutesFile(config.routesFile) : undefined,
});

const logger = createLogger('redaction-test');
const stripe = process.env.STRIPE_WEBHOOK_SECRET!.split(',');
const fileSecret = process.env.FILE_SECRET!;
const acmeSecret = process.env.ACME_SECRET!;
const destinationKey = process.env.DESTINATION_KEY!;

// Under sensitive keys, nested or not.
logger.info('headers logged by mistake', {
  headers: { 'stripe-signature': `t=1,v1=${process.env.SIGNATURE_VALUE}`, authorization: `Bearer ${process.env.ADMIN_API_TOKEN}`, 'content-type': 'application/json' },
  destination: { name: 'billing', secret: fileSecret, timeoutMs: 1000 },
  token: process.env.ADMIN_API_TOKEN,
  payload: { body: 'payload body' },
});
// In free text and in error messages, under harmless keys.
logger.warn(`connect failed for secret ${stripe[0]}`, { error: new Error(`bad ${stripe[1]} and ${fileSecret}`) });
logger.error('database url', { url: process.env.DATABASE_URL });
logger.info('harmless', { eventId: 'evt-1', provider: 'stripe' });
// Echoed by a client: percent-encoded in a path (upper- and lower-case hex, '/' only), as a correlation id, in a header.
const encoded = encodeURIComponent(acmeSecret);
logger.info('request', {
  path: `/webhooks/${encoded}/${encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())}/${acmeSecret.replaceAll('/', '%2F')}/${encodeURIComponent(fileSecret)}`,
  correlationId: acmeSecret,
  userAgent: `client ${destinationKey}`,
});
// Echoed by a destination: JSON inside a string.
logger.warn('delivery failed', { lastError: `billing: HTTP 500: ${JSON.stringify({ echo: acmeSecret.slice('whsec_'.length), key: destinationKey, note: 'kept' })}` });
await flushLogs();
