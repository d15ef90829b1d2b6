import type { Pool } from 'pg';
import type { Logger } from '../logging/logger.js';
import { pauseSnapshot } from './destination-pauses.js';

/**
 * Says, at start, which destinations of ROUTES_FILE are paused. A pause outlives its destination's removal from
 * ROUTES_FILE on purpose (it applies again should the destination come back under the same name), so a destination
 * added back months later would otherwise start paused without a word: nothing delivered, events waiting. Said at
 * every start of a process with a ROUTES_FILE (ingress and worker alike, once in `all`): a start is when a re-added
 * destination shows up, and PostgreSQL keeps no history that would tell a re-added one from one paused all along.
 * Never rejects, and the start does not wait for it: before the migrations ran (an ingress or worker started ahead of
 * them) there is nothing to say.
 */
export async function warnPausedAtStart(pool: Pool, destinations: string[], logger: Logger): Promise<void> {
  if (destinations.length === 0) return;
  let pausedAt: Record<string, string>;
  try {
    ({ pausedAt } = await pauseSnapshot(pool));
  } catch (error) {
    logger.debug('paused destinations not read at start', { error });
    return;
  }
  for (const destination of destinations) {
    if (!Object.hasOwn(pausedAt, destination)) continue;
    logger.warn(
      'destination in ROUTES_FILE is paused: nothing is sent to it until it is resumed (a pause recorded before it was removed from ROUTES_FILE applies again when it comes back)',
      { destination, pausedAt: pausedAt[destination] },
    );
  }
}
