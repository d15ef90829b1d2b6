import { InitialSchema1732800000000 } from './1732800000000-initial-schema.js';
import { ReplayKey1764500000000 } from './1764500000000-replay-key.js';
import { ReplayNumbers1764500100000 } from './1764500100000-replay-numbers.js';
import { ConsoleIndexes1764500300000 } from './1764500300000-console-indexes.js';
import { DestinationProtection1764500400000 } from './1764500400000-destination-protection.js';
import { StaleWalkIndex1764500500000 } from './1764500500000-stale-walk-index.js';
import { OverviewInvalidations1764500600000 } from './1764500600000-overview-invalidations.js';
import { EventTombstones1764500700000 } from './1764500700000-event-tombstones.js';
import { ClaimToken1764500800000 } from './1764500800000-claim-token.js';
import { ClaimWaiting1764500900000 } from './1764500900000-claim-waiting.js';
import { EventReplayKeys1764501100000 } from './1764501100000-event-replay-keys.js';
import { ClaimHeartbeat1764501200000 } from './1764501200000-claim-heartbeat.js';
import { HeldSinceByDestination1764501300000 } from './1764501300000-held-since-by-destination.js';

/** Every migration, oldest first. Listed explicitly so the same code runs from `services/` and from `dist/`. */
export const migrations = [
  InitialSchema1732800000000,
  ReplayKey1764500000000,
  ReplayNumbers1764500100000,
  ConsoleIndexes1764500300000,
  DestinationProtection1764500400000,
  StaleWalkIndex1764500500000,
  OverviewInvalidations1764500600000,
  EventTombstones1764500700000,
  ClaimToken1764500800000,
  ClaimWaiting1764500900000,
  EventReplayKeys1764501100000,
  ClaimHeartbeat1764501200000,
  HeldSinceByDestination1764501300000,
];
