import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace';
import { redactSecretValuesIn } from '../logging/logger.js';

/**
 * Hands spans to `inner` with every registered secret (the same set the log redactor knows: provider secrets, the
 * admin token, URL and destination credentials) replaced by [REDACTED] in what carries text: the span's name, its
 * string attributes, its status message, and its events' names and attributes (an exception's message and stack).
 * Spans carry what the code and the instrumentations saw (a destination's URL, an answer's error text), and a trace
 * collector is rarely kept as private as the logs.
 */
export class RedactingSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans.map(redactSpan), resultCallback);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * The span with its text redacted. The copy keeps the span as its prototype (`spanContext()` and every field the
 * exporter reads work as before); only its text fields are its own. A span with nothing to redact is passed on as
 * it is.
 */
function redactSpan(span: ReadableSpan): ReadableSpan {
  // Nearly every span holds no secret: one pass over all its text says so (a pass per attribute cost 5 µs a span).
  const text = spanText(span);
  if (redactSecretValuesIn(text) === text) return span;
  const name = redactSecretValuesIn(span.name);
  const attributes = redactAttributes(span.attributes);
  const statusMessage = span.status.message === undefined ? undefined : redactSecretValuesIn(span.status.message);
  const events = redactEvents(span.events);
  return Object.create(span, {
    name: { value: name, enumerable: true },
    attributes: { value: attributes, enumerable: true },
    status: { value: { ...span.status, ...(statusMessage === undefined ? {} : { message: statusMessage }) }, enumerable: true },
    events: { value: events, enumerable: true },
  }) as ReadableSpan;
}

/** Every text a span carries, one per line. */
function spanText(span: ReadableSpan): string {
  const parts = [span.name, span.status.message ?? ''];
  const addAttributes = (attributes: Attributes | undefined) => {
    for (const value of Object.values(attributes ?? {})) {
      if (typeof value === 'string') parts.push(value);
      else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') parts.push(item);
    }
  };
  addAttributes(span.attributes);
  for (const event of span.events) {
    parts.push(event.name);
    addAttributes(event.attributes);
  }
  return parts.join('\n');
}

/** The attributes with string values redacted; the same object when none changed. */
function redactAttributes(attributes: Attributes): Attributes {
  let redacted: Attributes | undefined;
  for (const [key, value] of Object.entries(attributes)) {
    const safe = redactValue(value);
    if (safe !== value) (redacted ??= { ...attributes })[key] = safe;
  }
  return redacted ?? attributes;
}

function redactValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return redactSecretValuesIn(value);
  if (!Array.isArray(value) || !value.some((item) => typeof item === 'string')) return value;
  const items = (value as (string | null | undefined)[]).map((item) => (typeof item === 'string' ? redactSecretValuesIn(item) : item));
  return items.some((item, index) => item !== value[index]) ? (items as AttributeValue) : value;
}

function redactEvents(events: TimedEvent[]): TimedEvent[] {
  let changed = false;
  const redacted = events.map((event) => {
    const name = redactSecretValuesIn(event.name);
    const attributes = event.attributes ? redactAttributes(event.attributes) : event.attributes;
    if (name === event.name && attributes === event.attributes) return event;
    changed = true;
    return { ...event, name, attributes };
  });
  return changed ? redacted : events;
}
