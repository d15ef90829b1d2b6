import { z } from 'zod';
import { EVENT_STATUSES, type EventStatus } from '../shared/database/event-status.js';
import { MAX_IDENTIFIER_LENGTH } from '../shared/database/identifier-length.js';
import { isUuid } from '../shared/text/uuid.js';

/** Which events a list, a count or a bulk action is about; every field optional, all of them must match. */
export interface EventFilter {
  status?: EventStatus;
  provider?: string;
  eventType?: string;
  /** Received at or after (ISO 8601). */
  from?: string;
  /** Received before (ISO 8601). */
  to?: string;
  /** The event's id (uuid) or the provider's id for it (externalId), exactly. */
  q?: string;
}

/**
 * Text PostgreSQL can hold: a `text` value cannot contain NUL (U+0000), and a parameter with one fails the whole
 * statement (22021, a 500 if it got that far). Refused here, with the parameter's name, instead.
 */
export const pgText = () => z.string().refine((value) => !value.includes('\u0000'), 'must not contain a NUL character');

/** Year, and the zone's offset hours when there is one, of a string `z.iso.datetime` accepted. */
const TIMESTAMP_PARTS = /^(\d{4})-.*?(?:Z|[+-](\d{2}):?\d{2})$/;

/**
 * ISO 8601 with a zone, as PostgreSQL's `timestamptz` takes it: zod's check also lets through year 0000 (PostgreSQL
 * has no year 0: 22008) and offsets past ±15:59 (22009 "time zone displacement out of range").
 */
const isoTimestamp = z.iso
  .datetime({ offset: true, local: false })
  .refine((value) => TIMESTAMP_PARTS.exec(value)?.[1] !== '0000', 'the year must be 0001 or later')
  .refine((value) => Number(TIMESTAMP_PARTS.exec(value)?.[2] ?? 0) <= 15, 'the zone offset must be within ±15:59');

/** The query parameters that make an {@link EventFilter} (`status` optional: counts leave it out). */
export const eventFilterQuery = z.object({
  status: z.enum(EVENT_STATUSES).optional(),
  provider: pgText().min(1).max(64).optional(),
  // Every event type the ingress stores (and the facets offer) can be filtered on.
  eventType: pgText().min(1).max(MAX_IDENTIFIER_LENGTH).optional(),
  from: isoTimestamp.optional(),
  to: isoTimestamp.optional(),
  q: pgText()
    .max(300)
    .transform((value) => value.trim())
    .optional()
    .transform((value) => (value ? value : undefined)),
});

/**
 * The filter as SQL conditions over `webhook_events` (alias `e`), with numbered parameters from `firstParameter`.
 * Every condition is one an index of the console migration serves in newest-first order (see
 * 1764500300000-console-indexes.ts); the search is an index lookup by id or external_id.
 */
export function filterConditions(filter: EventFilter, firstParameter = 1): { conditions: string[]; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const parameter = (value: unknown) => {
    values.push(value);
    return `$${firstParameter + values.length - 1}`;
  };
  if (filter.status) conditions.push(`e.status = ${parameter(filter.status)}`);
  if (filter.provider) conditions.push(`e.provider = ${parameter(filter.provider)}`);
  if (filter.eventType) conditions.push(`e.event_type = ${parameter(filter.eventType)}`);
  if (filter.from) conditions.push(`e.received_at >= ${parameter(filter.from)}::timestamptz`);
  if (filter.to) conditions.push(`e.received_at < ${parameter(filter.to)}::timestamptz`);
  if (filter.q) {
    const q = parameter(filter.q);
    conditions.push(isUuid(filter.q) ? `(e.id = ${parameter(filter.q)}::uuid OR e.external_id = ${q})` : `e.external_id = ${q}`);
  }
  return { conditions, values };
}
