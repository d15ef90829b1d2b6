import { AppError } from '../shared/errors/app-error.js';
import { isUuid } from '../shared/text/uuid.js';

/**
 * Position in the newest-first event list: (receivedAt, id) of the last item returned. `receivedAt` is the
 * column's exact value as ISO 8601 UTC text with microseconds: PostgreSQL keeps microseconds (and a group-commit
 * batch shares one timestamp), so a millisecond `Date` would skip the rest of a page's timestamp.
 */
export interface EventCursor {
  receivedAt: string;
  id: string;
}

export function encodeCursor(cursor: EventCursor): string {
  return Buffer.from(`${cursor.receivedAt}|${cursor.id}`, 'utf8').toString('base64url');
}

const TIMESTAMP = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

export function decodeCursor(value: string): EventCursor {
  const [at, id] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  // The round trip refuses dates JavaScript rolls over (Feb 30, 24:00) but PostgreSQL would reject with an error.
  const valid = at !== undefined && TIMESTAMP.test(at) && isRealTimestamp(at);
  if (!id || !isUuid(id) || !valid) {
    throw new AppError('BAD_REQUEST', 'Invalid cursor');
  }
  return { receivedAt: at, id };
}

function isRealTimestamp(at: string): boolean {
  const date = new Date(at);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === at.slice(0, 19);
}
