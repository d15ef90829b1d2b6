/**
 * Run as a child process by log-lines.test.ts: writes lines through the service's logger onto real stdout, one per
 * case the line formatting must keep: the ordinary line, levels below LOG_LEVEL, errors under plain and sensitive
 * keys, and what JSON.stringify refuses (a circular reference, a BigInt).
 */
import { createLogger, flushLogs } from '../../../services/shared/logging/logger.js';
import { runWithContext } from '../../../services/shared/logging/request-context.js';

const logger = createLogger('lines-test');
logger.debug('debug line', { n: 1 });
logger.info('plain', { eventId: 'evt-1', statusCode: 202, nested: { b: 2, a: 1 } });
const cause = Object.assign(new Error('root cause'), { code: 'ECONNRESET' });
logger.warn('failed', { error: new Error('outer', { cause }), token: new Error('an error under a sensitive key') });
const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;
logger.info('circular', { circular });
logger.info('bigint', { big: 12345678901234567890n });
runWithContext({ correlationId: 'corr-1', eventId: 'evt-ctx', provider: 'stripe', traceId: 'a'.repeat(32) }, () => logger.info('in a request'));
logger.log('info', 'after the rest');
await flushLogs();
