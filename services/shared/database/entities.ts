import { EntitySchema } from 'typeorm';
import type { EventStatus } from './event-status.js';

/** One received webhook, stored once per (provider, externalId). */
export interface WebhookEvent {
  id: string;
  provider: string;
  externalId: string;
  eventType: string;
  payload: unknown;
  /** The body exactly as received: what signatures were computed over and what destinations receive. */
  rawBody: Buffer;
  contentType: string;
  /** A few request headers worth keeping (never signatures or secrets). */
  headers: Record<string, string>;
  status: EventStatus;
  attempts: number;
  lastError: string | null;
  correlationId: string | null;
  traceId: string | null;
  /** W3C traceparent of the ingest span, so processing joins the same trace. */
  traceparent: string | null;
  /** When a COMPLETED event was last replayed; successful deliveries before it are sent again. */
  replayedAt: Date | null;
  /** What the provider's signature covers when it does not cover externalId; unique per provider (see migrations). */
  replayKey: string | null;
  /** How many times the event was replayed. */
  replays: number;
  receivedAt: Date;
  updatedAt: Date;
}

/** One try at delivering one event to one destination. */
export interface DeliveryAttempt {
  id: string;
  eventId: string;
  destination: string;
  attempt: number;
  /** The replay round of the attempt (0: before any replay); attempt numbers restart with each replay. */
  replay: number;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: Date;
}

export const WebhookEventSchema = new EntitySchema<WebhookEvent>({
  name: 'WebhookEvent',
  tableName: 'webhook_events',
  columns: {
    id: { type: 'uuid', primary: true, generated: 'uuid' },
    provider: { type: 'text' },
    externalId: { type: 'text', name: 'external_id' },
    eventType: { type: 'text', name: 'event_type' },
    payload: { type: 'jsonb' },
    rawBody: { type: 'bytea', name: 'raw_body' },
    contentType: { type: 'text', name: 'content_type' },
    headers: { type: 'jsonb', default: () => "'{}'::jsonb" },
    status: { type: 'text', default: 'PENDING' },
    attempts: { type: 'int', default: 0 },
    lastError: { type: 'text', name: 'last_error', nullable: true },
    correlationId: { type: 'text', name: 'correlation_id', nullable: true },
    traceId: { type: 'text', name: 'trace_id', nullable: true },
    traceparent: { type: 'text', nullable: true },
    replayedAt: { type: 'timestamptz', name: 'replayed_at', nullable: true },
    replayKey: { type: 'text', name: 'replay_key', nullable: true },
    replays: { type: 'int', default: 0 },
    receivedAt: { type: 'timestamptz', name: 'received_at', default: () => 'now()' },
    updatedAt: { type: 'timestamptz', name: 'updated_at', default: () => 'now()' },
  },
  uniques: [{ name: 'uq_webhook_events_provider_external_id', columns: ['provider', 'externalId'] }],
});

export const DeliveryAttemptSchema = new EntitySchema<DeliveryAttempt>({
  name: 'DeliveryAttempt',
  tableName: 'delivery_attempts',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment' },
    eventId: { type: 'uuid', name: 'event_id' },
    destination: { type: 'text' },
    attempt: { type: 'int' },
    replay: { type: 'int', default: 0 },
    succeeded: { type: 'boolean' },
    statusCode: { type: 'int', name: 'status_code', nullable: true },
    error: { type: 'text', nullable: true },
    durationMs: { type: 'int', name: 'duration_ms' },
    at: { type: 'timestamptz', default: () => 'now()' },
  },
});
