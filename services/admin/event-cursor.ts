import { AppError } from '../shared/errors/app-error.js';

/** Position in the newest-first event list: (receivedAt, id) of the last item returned. */
export interface EventCursor {
  receivedAt: Date;
  id: string;
}

export function encodeCursor(cursor: EventCursor): string {
  return Buffer.from(`${cursor.receivedAt.toISOString()}|${cursor.id}`, 'utf8').toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(value: string): EventCursor {
  const [at, id] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  const receivedAt = new Date(at ?? '');
  if (!id || !UUID.test(id) || Number.isNaN(receivedAt.getTime())) throw new AppError('BAD_REQUEST', 'Invalid cursor');
  return { receivedAt, id };
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
