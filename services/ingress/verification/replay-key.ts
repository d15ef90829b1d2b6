import { createHash } from 'node:crypto';

/**
 * What to do when a second event (another externalId) comes with the replay key of a stored one:
 * - `duplicate`: the same signed bytes re-sent under new unsigned headers (a new delivery id, another event type):
 *   answered as a duplicate of the stored event, so a captured body can never become a new event;
 * - `reject`: a signed transmission carrying another body (the signature binds the body only weakly, as PayPal's
 *   CRC32 does): refused as a forgery.
 */
export type ReplayKeyReuse = 'duplicate' | 'reject';

/**
 * A key that the provider's signature covers when it does not cover the event id, or when no signed timestamp bounds
 * a replay; unique per provider in storage, and kept after retention deletes the event (webhook_event_tombstones).
 */
export interface ReplayKey {
  key: string;
  onReuse: ReplayKeyReuse;
}

/**
 * For providers that sign the body with no timestamp (GitHub, `hmac`): the SHA-256 of the raw body, so the same signed
 * body is the same event whatever the unsigned headers say (a GitHub delivery id, an `hmac` `idHeader`), and for as
 * long as its tombstone lasts after the event is deleted (a signature without a timestamp never expires).
 */
export function bodyDigestReplayKey(rawBody: Buffer): ReplayKey {
  return { key: `sha256:${createHash('sha256').update(rawBody).digest('hex')}`, onReuse: 'duplicate' };
}
