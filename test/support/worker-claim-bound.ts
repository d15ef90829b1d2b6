import { confirmClaimAfterMs } from '../../services/worker/processing/claim-heartbeat.js';

/** The worker's confirmClaimAfterMs with the default WORKER_LOCK_DURATION_MS (30 s): for processors a test builds. */
export const WORKER_CONFIRM_CLAIM_AFTER_MS = confirmClaimAfterMs(30_000);
