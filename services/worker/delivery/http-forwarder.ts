import { Agent, request } from 'undici';
import { redactSecretValuesIn } from '../../shared/logging/logger.js';
import type { Destination } from '../routing/route-table.js';
import type { DeliverableEvent, Deliverer, DeliveryHooks, OutgoingMessage } from './deliverer.js';
import { parseRetryAfter, type DeliveryResult } from './delivery-result.js';
import { readAnswerPrefix } from './answer-prefix.js';
import { DestinationSlots } from './destination-slots.js';
import { errorText } from './error-text.js';
import { overrideHeaders } from './header-override.js';
import { interimAnswerSkippingConnector } from './interim-answer-skipping.js';
import { httpTargetOf, type HttpTarget } from './url-credentials.js';
import { WebhookHeaders } from './webhook-headers.js';

/** The event with its original bytes, as {@link HttpForwarder.forward} sends it. */
export interface ForwardedEvent extends DeliverableEvent {
  rawBody: Buffer;
  contentType: string;
}

export interface HttpForwarderOptions {
  /** Used when a destination sets no `timeoutMs`. */
  defaultTimeoutMs: number;
  /**
   * Requests in flight (and connections) per destination when it sets no `maxConcurrency`: the worker's
   * WORKER_CONCURRENCY, so that with the default no job ever waits for a destination's slot.
   */
  defaultMaxConcurrency: number;
  /**
   * Run once a slot is held, right before the request (the rate limit): when it throws, nothing is sent, the slot
   * is given back and the error is the caller's.
   */
  beforeSend?: (destination: Destination) => Promise<void>;
  /** How long a connection (TCP connect and, for https, the TLS handshake) may take: {@link CONNECT_TIMEOUT_MS} unless a test says otherwise. */
  connectTimeoutMs?: number;
}

/**
 * How long a connection to a destination may take to be made (undici's own default, stated here so the error can say
 * it): a destination whose `timeoutMs` is longer still gets no more than this for the TCP connect and TLS handshake.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

const MAX_ERROR_BODY = 512;
/** The longest error text of a request that got no answer (undici's messages are short; this only bounds them). */
const MAX_ERROR_MESSAGE = 512;
/**
 * How much of an error answer is read (bytes) and searched for secrets before it is cut to {@link MAX_ERROR_BODY}:
 * the rest is never read (see {@link readAnswerPrefix}).
 */
const MAX_SCANNED_ERROR_BODY = 64 * 1024;

/**
 * The `http` {@link Deliverer}. Sends an event to a destination: `POST url` with the message's bytes (the provider's
 * original bytes, or a route's transform result), Standard Webhooks headers
 * (`webhook-id` is the event's id on every retry, so receivers can deduplicate), and the trace context.
 * Any 2xx is success; redirects are not followed (a 3xx is a failure), as destinations come only from configuration.
 *
 * Each destination has a lane of its own: at most `maxConcurrency` requests in flight (default: the worker's
 * concurrency) over a dispatcher with exactly that many connections. A forward first waits for a slot, and only then
 * signs the request and starts its timeout, so the timeout measures the destination, never a wait in this worker;
 * a slot held always finds a connection; and waiting for one destination's slot never holds up another destination.
 */
export class HttpForwarder implements Deliverer {
  private readonly slots: DestinationSlots;
  /** Each destination's own connection pool, as many connections as it has slots. */
  private readonly dispatchers = new Map<string, Agent>();
  private readonly webhookHeaders = new WebhookHeaders();
  /** Each destination URL's target (URL without credentials, Basic auth), computed once: URLs come from configuration. */
  private readonly targets = new Map<string, HttpTarget>();

  constructor(private readonly options: HttpForwarderOptions) {
    this.slots = new DestinationSlots(options.defaultMaxConcurrency, options.beforeSend);
  }

  /** Forwards the provider's original bytes (see {@link deliver}). */
  forward(event: ForwardedEvent, destination: Destination): Promise<DeliveryResult> {
    return this.deliver(event, destination, { body: event.rawBody, contentType: event.contentType });
  }

  /**
   * Delivers one message to one destination. Network errors, timeouts and non-2xx answers are results; an exception
   * (a secret the signer cannot use, say) means a bug or bad configuration, and is the caller's to record.
   */
  async deliver(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, hooks?: DeliveryHooks): Promise<DeliveryResult> {
    return this.slots.run(
      destination,
      async () => {
        const result = await this.send(event, destination, message, this.dispatcherFor(destination));
        await hooks?.afterSend?.(result);
        return result;
      },
      hooks,
    );
  }

  /** The configured concurrency of a destination (`maxConcurrency`, else the default). */
  maxConcurrencyOf(destination: Destination): number {
    return destination.maxConcurrency ?? this.options.defaultMaxConcurrency;
  }

  /**
   * A slot held always finds a connection: the pool is exactly as wide as the destination's slots. Idle connections
   * are kept for undici's default (4 s) unless the destination's `Keep-Alive: timeout=N` says otherwise: many
   * receivers close idle connections after a few seconds without saying so (uvicorn 5 s, Puma 20 s), and a delivery
   * written onto a connection the receiver has just closed fails its attempt (`other side closed`). A POST is not
   * retried on another connection by undici, so the pool must not outlive the receiver's idle timeout. Its
   * HTTP/1.1 connections drop the interim (1xx) answers before a final one (see {@link interimAnswerSkippingConnector}).
   */
  private dispatcherFor(destination: Destination): Agent {
    let dispatcher = this.dispatchers.get(destination.name);
    if (!dispatcher) {
      dispatcher = new Agent({
        connections: this.maxConcurrencyOf(destination),
        // One request at a time on a connection (undici's default, stated: the dropping of interim answers needs it).
        pipelining: 1,
        connect: interimAnswerSkippingConnector(this.connectTimeoutMs),
      });
      this.dispatchers.set(destination.name, dispatcher);
    }
    return dispatcher;
  }

  /** One request, a slot held: the timestamp, the signature and the timeout all start now. */
  private async send(event: DeliverableEvent, destination: Destination, message: OutgoingMessage, dispatcher: Agent): Promise<DeliveryResult> {
    const timeoutMs = destination.timeoutMs ?? this.options.defaultTimeoutMs;
    const target = this.targetOf(destination.url);
    const headers = overrideHeaders(this.webhookHeaders.build(event, destination, message.body), {
      'content-type': message.contentType || 'application/json',
      'user-agent': 'event-driven-integration-service',
      ...(target.authorization ? { authorization: target.authorization } : {}),
    });

    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    // The whole request (connection, answer, body) within timeoutMs. A timer cleared when the request ends, not
    // AbortSignal.timeout(): that one cannot be cleared, so every delivery's signal and timer stayed alive for the
    // full timeout after its answer (10 s of deliveries' worth at a time, promoted to the old generation).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    // A status below 100 (`HTTP/1.1 099 X`): undici hands it to onInfo as it does a 1xx, then fails the request by an
    // internal assertion and closes the connection. The attempt's error was that assertion's text (`ERR_ASSERTION:
    // false == true`, or a multi-line quote of undici's source), which names neither the status nor the destination.
    // Kept here so the error can say what came.
    let statusBelow100: number | undefined;
    try {
      const response = await request(target.url, {
        method: 'POST',
        headers,
        body: message.body,
        dispatcher,
        signal: deadline.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        onInfo: ({ statusCode }) => {
          if (statusCode < 100) statusBelow100 = statusCode;
        },
      });
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      // 429 and 503 may say when to come back: the event's next attempt is not made before then.
      const retryAfterMs = response.statusCode === 429 || response.statusCode === 503 ? parseRetryAfter(response.headers['retry-after']) : undefined;
      let detail: string | null = null;
      if (ok) {
        await response.body.dump();
      } else {
        const text = await readAnswerPrefix(response.body, MAX_SCANNED_ERROR_BODY);
        // Redacted before it is cut: a configured secret the destination echoes across the cut would otherwise leave
        // its first characters behind, which no later redaction recognises. Its control characters are replaced: a
        // binary answer's NUL made PostgreSQL refuse the attempt's whole finish.
        const kept = text ? errorText(redactSecretValuesIn(text), MAX_ERROR_BODY) : '';
        // Redirects are not followed (the signature and credentials must not go to another host); where it points
        // is the first thing an operator needs to fix the URL (http:// moved to https://, a trailing slash).
        const location = response.statusCode >= 300 && response.statusCode < 400 ? response.headers.location : undefined;
        const moved = typeof location === 'string' ? ` (Location: ${errorText(redactSecretValuesIn(location), MAX_ERROR_MESSAGE)})` : '';
        detail = `HTTP ${response.statusCode}${moved}${kept ? `: ${kept}` : ''}`;
      }
      return {
        destination: destination.name,
        succeeded: ok,
        result: ok ? 'success' : 'http_error',
        statusCode: response.statusCode,
        error: detail,
        durationMs: elapsed(),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (error) {
      if (statusBelow100 !== undefined) {
        // The parser reads exactly three digits: padded back, the status is as the destination wrote it.
        const status = String(statusBelow100).padStart(3, '0');
        return {
          destination: destination.name,
          succeeded: false,
          result: 'network_error',
          statusCode: null,
          error: `status ${status} is not an HTTP status (100–599): the answer was refused`,
          durationMs: elapsed(),
        };
      }
      const name = (error as Error).name;
      const code = (error as { code?: string }).code ?? '';
      const timedOut = name === 'TimeoutError' || name === 'AbortError' || /Timeout/i.test(code);
      return {
        destination: destination.name,
        succeeded: false,
        result: timedOut ? 'timeout' : 'network_error',
        statusCode: null,
        error: timedOut
          ? this.timeoutText(code, timeoutMs, error as Error)
          : errorText(`${code || name}: ${(error as Error).message}`, MAX_ERROR_MESSAGE),
        durationMs: elapsed(),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  }

  /**
   * What timed out. The connection's own timeout ends an attempt before the destination's `timeoutMs` when that is
   * longer: it was reported as "timed out after <timeoutMs> ms", which sent operators looking at a slow receiver
   * (and at `timeoutMs`) when no connection to it could be made. undici's message names the address it tried.
   */
  private timeoutText(code: string, timeoutMs: number, error: Error): string {
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      return errorText(`no connection within ${this.connectTimeoutMs} ms (connect timeout: TCP connect and TLS handshake): ${error.message}`, MAX_ERROR_MESSAGE);
    }
    return `timed out after ${timeoutMs} ms`;
  }

  private targetOf(url: string): HttpTarget {
    let target = this.targets.get(url);
    if (!target) {
      target = httpTargetOf(url);
      this.targets.set(url, target);
    }
    return target;
  }

  /**
   * A destination's deliveries beyond its `maxConcurrency` wait here for a slot, their request not begun: with the
   * chart's WORKER_CONCURRENCY (128) and a destination taking 2 at a time, most of a worker's jobs do. A drain that
   * let them go on would keep starting requests one slot at a time until SHUTDOWN_TIMEOUT_MS cut one off after it was
   * sent but before it was recorded, and the next worker sent it again. So they are refused at once (and any later
   * one), and only the requests in flight finish.
   */
  stopStartingDeliveries(): void {
    this.slots.stopStarting();
  }

  /** Closes every destination's connections (requests in flight finish first). */
  async close(): Promise<void> {
    const dispatchers = [...this.dispatchers.values()];
    this.dispatchers.clear();
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.close()));
  }
}
