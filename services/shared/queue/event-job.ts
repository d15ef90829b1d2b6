/** What a queue job carries: only the event's id (the row holds the rest) and the trace to continue. */
export interface EventJobData {
  eventId: string;
  /**
   * The event's replay round this job processes (`webhook_events.replays`); absent: 0, as for every job of an event
   * never replayed (and every job queued before rounds were recorded). A job claims the event only in its own round.
   */
  replays?: number;
  /** W3C trace context of the ingest request, so processing joins the same trace. */
  traceparent?: string;
  tracestate?: string;
  /**
   * When the job was, or will be, ready to run after its last delay or promotion (ms since the epoch): what the
   * queue-wait gauge counts from (see job-ready-time.ts). Absent until the job is first delayed.
   */
  readyAt?: number;
}

/** The job name. */
export const EVENT_JOB_NAME = 'process-event';

/**
 * The id of the job that processes `eventId` in replay round `replays`: the event's uuid in round 0 (what the ingress
 * and the reconciler have always used), `<uuid>-replay-<n>` after the n-th replay. BullMQ ignores an add whose id
 * exists, so one event has at most one live job per round.
 *
 * Why a new id per round: a replay can land after the worker wrote COMPLETED or DEAD_LETTER to PostgreSQL and
 * before BullMQ finished the job (the job is still active). Under the same id the replay's add would be a no-op and
 * the event would wait in PENDING for the reconciler; under its round's id it is a job of its own, which runs at
 * once. The earlier round's job cannot run the event twice: its claim is for its own round (see ProcessingStore).
 * (Not `:`-separated: BullMQ refuses a custom id with a colon in it.)
 */
export function eventJobId(eventId: string, replays = 0): string {
  return replays > 0 ? `${eventId}-replay-${replays}` : eventId;
}
