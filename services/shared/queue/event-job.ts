/** What a queue job carries: only the event's id (the row holds the rest) and the trace to continue. */
export interface EventJobData {
  eventId: string;
  /** W3C trace context of the ingest request, so processing joins the same trace. */
  traceparent?: string;
  tracestate?: string;
}

/** The job name; jobs are keyed by the event's uuid (`jobId`), so one event has at most one live job. */
export const EVENT_JOB_NAME = 'process-event';
