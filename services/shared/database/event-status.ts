/**
 * An event's life: PENDING → PROCESSING → COMPLETED; a failed attempt → FAILED (retry scheduled) → PROCESSING …;
 * after the last attempt → DEAD_LETTER. Replay moves DEAD_LETTER or COMPLETED back to PENDING.
 */
export const EVENT_STATUSES = ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'DEAD_LETTER'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

/** Statuses from which an operator may replay an event. */
export const REPLAYABLE_STATUSES: readonly EventStatus[] = ['DEAD_LETTER', 'COMPLETED'];
