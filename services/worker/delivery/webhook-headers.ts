import { INVALID_SPAN_CONTEXT, isSpanContextValid, trace } from '@opentelemetry/api';
import { createStandardWebhookSigner } from '../../shared/standard-webhooks/sign.js';
import type { Destination } from '../routing/route-table.js';
import { destinationType } from '../routing/routes-file.js';
import type { DeliverableEvent } from './deliverer.js';
import { overrideHeaders } from './header-override.js';
import { withoutInjectedTraceHeaders } from './injected-trace-headers.js';
import { textHeaderValue } from './text-header-value.js';

type Signer = (id: string, timestampSeconds: number, body: Buffer) => string;

/**
 * The Standard Webhooks headers every delivery carries, whatever the destination type: `webhook-id` (the event id,
 * the same on every retry), `webhook-timestamp`, `webhook-signature` over the bytes actually sent (when the
 * destination has a secret), `x-webhook-provider`, `x-webhook-event-type`, over the destination's static headers (a
 * static header named like one of these, in any case, is left out). Signers are built once per secret.
 */
export class WebhookHeaders {
  private readonly signers = new Map<string, Signer>();

  /** Headers for one delivery of `body`, timestamped now. Throws when the secret cannot be used to sign. */
  build(event: DeliverableEvent, destination: Destination, body: Buffer): Record<string, string> {
    const timestamp = Math.floor(Date.now() / 1000);
    const own: Record<string, string> = {
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'x-webhook-provider': event.provider,
      // The provider's string: over HTTP and NATS percent-encoded when a header cannot carry it as it is (see
      // textHeaderValue); an AMQP header table carries any string, so there it goes as it is.
      'x-webhook-event-type': destinationType(destination) === 'amqp' ? event.eventType : textHeaderValue(event.eventType),
    };
    if (destination.secret) own['webhook-signature'] = this.signerFor(destination.secret)(event.id, timestamp, body);
    // With tracing on, the instrumentation injects the delivery span's context (traceparent, tracestate), so static
    // headers of those names are left out (the worker names them at start); off, the stored traceparent still goes.
    if (isSpanContextValid(trace.getActiveSpan()?.spanContext() ?? INVALID_SPAN_CONTEXT)) return overrideHeaders(withoutInjectedTraceHeaders(destination.headers), own);
    if (event.traceparent) own.traceparent = event.traceparent;
    return overrideHeaders(destination.headers, own);
  }

  private signerFor(secret: string): Signer {
    let signer = this.signers.get(secret);
    if (!signer) {
      signer = createStandardWebhookSigner(secret);
      this.signers.set(secret, signer);
    }
    return signer;
  }
}
