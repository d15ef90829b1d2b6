import { Agent, request } from 'undici';
import { createStandardWebhookSigner } from '../../shared/standard-webhooks/sign.js';
import type { Destination } from '../routing/route-table.js';
import type { DeliveryResult } from './delivery-result.js';

/** The event as the forwarder needs it. */
export interface ForwardedEvent {
  id: string;
  provider: string;
  eventType: string;
  rawBody: Buffer;
  contentType: string;
}

export interface HttpForwarderOptions {
  /** Used when a destination sets no `timeoutMs`. */
  defaultTimeoutMs: number;
  /** Connections kept per destination origin. */
  connectionsPerOrigin?: number;
}

const MAX_ERROR_BODY = 512;

/**
 * Sends an event to a destination: `POST url` with the provider's original bytes, Standard Webhooks headers
 * (`webhook-id` is the event's id on every retry, so receivers can deduplicate), and the trace context.
 * Any 2xx is success; redirects are not followed (a 3xx is a failure), as destinations come only from configuration.
 */
export class HttpForwarder {
  private readonly agent: Agent;
  private readonly signers = new Map<string, (id: string, timestampSeconds: number, body: Buffer) => string>();

  constructor(private readonly options: HttpForwarderOptions) {
    this.agent = new Agent({ connections: options.connectionsPerOrigin ?? 64, keepAliveTimeout: 30_000 });
  }

  async forward(event: ForwardedEvent, destination: Destination): Promise<DeliveryResult> {
    const timeoutMs = destination.timeoutMs ?? this.options.defaultTimeoutMs;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      ...destination.headers,
      'content-type': event.contentType || 'application/json',
      'user-agent': 'event-driven-integration-service',
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      'x-webhook-provider': event.provider,
      'x-webhook-event-type': event.eventType,
    };
    if (destination.secret) headers['webhook-signature'] = this.signerFor(destination.secret)(event.id, timestamp, event.rawBody);

    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await request(destination.url, {
        method: 'POST',
        headers,
        body: event.rawBody,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      let detail: string | null = null;
      if (ok) {
        await response.body.dump();
      } else {
        const text = await response.body.text().catch(() => '');
        detail = `HTTP ${response.statusCode}${text ? `: ${text.slice(0, MAX_ERROR_BODY)}` : ''}`;
      }
      return {
        destination: destination.name,
        succeeded: ok,
        result: ok ? 'success' : 'http_error',
        statusCode: response.statusCode,
        error: detail,
        durationMs: elapsed(),
      };
    } catch (error) {
      const name = (error as Error).name;
      const timedOut = name === 'TimeoutError' || name === 'AbortError' || /Timeout/i.test((error as { code?: string }).code ?? '');
      return {
        destination: destination.name,
        succeeded: false,
        result: timedOut ? 'timeout' : 'network_error',
        statusCode: null,
        error: timedOut ? `timed out after ${timeoutMs} ms` : `${(error as { code?: string }).code ?? name}: ${(error as Error).message}`,
        durationMs: elapsed(),
      };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private signerFor(secret: string) {
    let signer = this.signers.get(secret);
    if (!signer) {
      signer = createStandardWebhookSigner(secret);
      this.signers.set(secret, signer);
    }
    return signer;
  }
}
