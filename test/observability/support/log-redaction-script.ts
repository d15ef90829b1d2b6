/**
 * Run as a child process by log-secrets.test.ts: logs secrets the way careless code might, so the test can check
 * the logger's safety net on real stdout. The secrets come from the environment, as in the service.
 */
import { createLogger, flushLogs, registerSecretValues } from '../../../services/shared/logging/logger.js';

const logger = createLogger('redaction-test');
registerSecretValues([process.env.FILE_SECRET]);
const stripe = process.env.STRIPE_WEBHOOK_SECRET!.split(',');

// Under sensitive keys, nested or not.
logger.info('headers logged by mistake', {
  headers: { 'stripe-signature': `t=1,v1=${process.env.SIGNATURE_VALUE}`, authorization: `Bearer ${process.env.ADMIN_API_TOKEN}`, 'content-type': 'application/json' },
  destination: { name: 'billing', secret: process.env.FILE_SECRET, timeoutMs: 1000 },
  token: process.env.ADMIN_API_TOKEN,
  payload: { body: 'payload body' },
});
// In free text and in error messages, under harmless keys.
logger.warn(`connect failed for secret ${stripe[0]}`, { error: new Error(`bad ${stripe[1]} and ${process.env.FILE_SECRET}`) });
logger.error('database url', { url: process.env.DATABASE_URL });
logger.info('harmless', { eventId: 'evt-1', provider: 'stripe' });
await flushLogs();
