import type { DataSource } from 'typeorm';
import { DeliveryAttemptSchema, WebhookEventSchema, type DeliveryAttempt, type WebhookEvent } from '../shared/database/entities.js';
import { REPLAYABLE_STATUSES, type EventStatus } from '../shared/database/event-status.js';
import type { Logger } from '../shared/logging/logger.js';
import type { EventQueue } from '../shared/queue/event-queue.js';
import { decodeCursor, encodeCursor } from './event-cursor.js';

/** An event as the admin API shows it. */
export interface EventView {
  id: string;
  provider: string;
  externalId: string;
  eventType: string;
  status: EventStatus;
  attempts: number;
  /** How many times the event was replayed; each delivery's `replay` says which round it belongs to. */
  replays: number;
  lastError: string | null;
  correlationId: string | null;
  traceId: string | null;
  receivedAt: string;
  updatedAt: string;
}

export interface DeliveryView {
  destination: string;
  attempt: number;
  replay: number;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: string;
}

const toView = (event: WebhookEvent): EventView => ({
  id: event.id,
  provider: event.provider,
  externalId: event.externalId,
  eventType: event.eventType,
  status: event.status,
  attempts: event.attempts,
  replays: event.replays,
  lastError: event.lastError,
  correlationId: event.correlationId,
  traceId: event.traceId,
  receivedAt: event.receivedAt.toISOString(),
  updatedAt: event.updatedAt.toISOString(),
});

const toDeliveryView = (attempt: DeliveryAttempt): DeliveryView => ({
  destination: attempt.destination,
  attempt: attempt.attempt,
  replay: attempt.replay,
  succeeded: attempt.succeeded,
  statusCode: attempt.statusCode,
  error: attempt.error,
  durationMs: attempt.durationMs,
  at: attempt.at.toISOString(),
});

/** What operators do with events: list, inspect, replay. */
export class EventAdminService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: EventQueue,
    private readonly logger: Logger,
  ) {}

  async list(filter: { status?: EventStatus; provider?: string; limit: number; cursor?: string }) {
    const query = this.dataSource
      .getRepository(WebhookEventSchema)
      .createQueryBuilder('e')
      .orderBy('e.receivedAt', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(filter.limit + 1);
    if (filter.status) query.andWhere('e.status = :status', { status: filter.status });
    if (filter.provider) query.andWhere('e.provider = :provider', { provider: filter.provider });
    if (filter.cursor) {
      const cursor = decodeCursor(filter.cursor);
      query.andWhere('(e.receivedAt, e.id) < (CAST(:at AS timestamptz), CAST(:id AS uuid))', { at: cursor.receivedAt, id: cursor.id });
    }
    // The cursor needs received_at to the microsecond; a JS Date only keeps milliseconds.
    query.addSelect(`to_char(e.receivedAt AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, 'cursor_received_at');
    const { entities: rows, raw } = await query.getRawAndEntities<{ e_id: string; cursor_received_at: string }>();
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    const lastAt = last && raw.find((row) => row.e_id === last.id)?.cursor_received_at;
    return {
      items: page.map(toView),
      nextCursor: rows.length > filter.limit && last && lastAt ? encodeCursor({ receivedAt: lastAt, id: last.id }) : null,
    };
  }

  async get(id: string) {
    const event = await this.dataSource.getRepository(WebhookEventSchema).findOne({ where: { id } });
    if (!event) return undefined;
    const deliveries = await this.dataSource
      .getRepository(DeliveryAttemptSchema)
      .find({ where: { eventId: id }, order: { at: 'ASC', id: 'ASC' } });
    return {
      ...toView(event),
      payload: event.payload,
      headers: event.headers,
      contentType: event.contentType,
      deliveries: deliveries.map(toDeliveryView),
    };
  }

  /**
   * Moves a DEAD_LETTER or COMPLETED event back to PENDING and enqueues it. Replaying a COMPLETED event
   * delivers it to every destination again; a dead letter goes only to those that have not taken it yet.
   * @returns 'replayed', 'not_found' or 'not_replayable' (any other status: it is still being processed).
   */
  async replay(id: string): Promise<'replayed' | 'not_found' | 'not_replayable'> {
    const rows = await this.resetToPending('id = $1', [id]);
    if (rows.length === 0) {
      const exists = await this.dataSource.getRepository(WebhookEventSchema).exists({ where: { id } });
      return exists ? 'not_replayable' : 'not_found';
    }
    await this.enqueue(rows);
    return 'replayed';
  }

  /** Replays every event in `status` (optionally of one provider); returns how many. */
  async replayAll(status: EventStatus, provider?: string): Promise<number> {
    const rows = provider
      ? await this.resetToPending('status = $1 AND provider = $2', [status, provider])
      : await this.resetToPending('status = $1', [status]);
    await this.enqueue(rows);
    return rows.length;
  }

  private async resetToPending(where: string, values: unknown[]): Promise<{ id: string; traceparent: string | null }[]> {
    const statuses = REPLAYABLE_STATUSES.map((s) => `'${s}'`).join(', ');
    const result = await this.dataSource.query(
      `UPDATE webhook_events
          SET status = 'PENDING', attempts = 0, replays = replays + 1, last_error = NULL, updated_at = now(),
              replayed_at = CASE WHEN status = 'COMPLETED' THEN now() ELSE replayed_at END
        WHERE ${where} AND status IN (${statuses})
    RETURNING id, traceparent`,
      values,
    );
    // TypeORM returns [rows, count] for UPDATE … RETURNING on PostgreSQL.
    return (Array.isArray(result[0]) ? result[0] : result) as { id: string; traceparent: string | null }[];
  }

  /** Enqueues replayed events; if Redis is down they stay PENDING and the reconciler enqueues them. */
  private async enqueue(rows: { id: string; traceparent: string | null }[]): Promise<void> {
    const concurrency = 16;
    for (let index = 0; index < rows.length; index += concurrency) {
      await Promise.all(
        rows.slice(index, index + concurrency).map((row) =>
          this.queue.requeue({ eventId: row.id, traceparent: row.traceparent ?? undefined }).catch((error: unknown) => {
            this.logger.warn('replay enqueue failed; the reconciler will enqueue the event', { eventId: row.id, error });
          }),
        ),
      );
    }
  }
}
