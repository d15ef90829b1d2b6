import { createHmac } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';

/** One webhook a simulated provider sends: Stripe-shaped, signed with the provider's secret on every send. */
export interface SimulatedEvent {
  externalId: string;
  type: string;
  body: string;
}

/** What happened to one event: accepted (2xx) or not, and every response it took to get there. */
export interface SendOutcome {
  externalId: string;
  /** The stored event's id from the first 2xx; undefined when the provider gave up. */
  eventId?: string;
  /** Every 2xx's status and id (a duplicate storm gets several). */
  acceptances: { status: number; id: string; duplicate: boolean }[];
  attempts: number;
}

/** One answer (or failure to answer) the provider saw. */
export interface ResponseRecord {
  externalId: string;
  target: string;
  /** HTTP status, or undefined for a connection error or a hang. */
  status?: number;
  /** `ECONNRESET`, `ECONNREFUSED`, `UND_ERR_SOCKET`, … or `HANG` when no answer came within the request timeout. */
  error?: string;
  startedAt: number;
  finishedAt: number;
  /** For a 2xx: the id and duplicate flag the ingress answered with. */
  acceptance?: { status: number; id: string; duplicate: boolean };
}

export interface ProviderSimulatorOptions {
  /** Base URLs of the ingress processes; read on every attempt, so a test can change them while load runs. */
  targets: () => string[];
  secret: string;
  provider?: string;
  /** A request with no answer after this long counts as a hang (then is retried). */
  requestTimeoutMs?: number;
  /** Sends per event before the provider gives up (real providers retry for days; a test cannot). */
  maxAttempts?: number;
  /** Longest pause between retries (linear backoff with jitter up to this). */
  maxRetryDelayMs?: number;
}

export function stripeSignatureHeader(body: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

/** Stripe-shaped events `<prefix>_<i>`; `typeOf(i)` picks each one's type (default `invoice.paid`). */
export function makeEvents(prefix: string, count: number, typeOf: (index: number) => string = () => 'invoice.paid'): SimulatedEvent[] {
  return Array.from({ length: count }, (_, index) => {
    const externalId = `evt_${prefix}_${index}`;
    const type = typeOf(index);
    return { externalId, type, body: JSON.stringify({ id: externalId, object: 'event', type, data: { object: { index } } }) };
  });
}

const isAccepted = (status: number) => status === 200 || status === 202;

/**
 * A webhook provider as the service meets it in production: it signs each event, sends it over keep-alive
 * connections, and retries (bounded here) on 503, on any 5xx, on connection errors and on requests that hang, so every
 * event is eventually accepted unless the service is broken. Records every answer for the test's figures.
 */
export class ProviderSimulator {
  readonly responses: ResponseRecord[] = [];
  private readonly agent: Agent;
  private readonly options: Required<ProviderSimulatorOptions>;
  private nextTarget = 0;

  constructor(options: ProviderSimulatorOptions) {
    this.options = { provider: 'stripe', requestTimeoutMs: 10_000, maxAttempts: 80, maxRetryDelayMs: 400, ...options };
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
  }

  /** Sends one event until it is accepted or `maxAttempts` is used up. `targetOffset` picks the first ingress. */
  async send(event: SimulatedEvent, targetOffset?: number): Promise<SendOutcome> {
    const outcome: SendOutcome = { externalId: event.externalId, acceptances: [], attempts: 0 };
    let offset = targetOffset ?? this.nextTarget++;
    while (outcome.attempts < this.options.maxAttempts) {
      const targets = this.options.targets();
      const target = targets[offset++ % targets.length]!;
      outcome.attempts++;
      const record = await this.post(target, event);
      this.responses.push(record);
      if (record.acceptance) {
        outcome.acceptances.push(record.acceptance);
        outcome.eventId = record.acceptance.id;
        return outcome;
      }
      if (record.status !== undefined && record.status < 500 && record.status !== 429) return outcome; // a 4xx: the provider gives up
      const backoff = Math.min(this.options.maxRetryDelayMs, 25 * outcome.attempts);
      await delay(backoff / 2 + Math.random() * (backoff / 2));
    }
    return outcome;
  }

  /**
   * Sends `events` paced at `ratePerSecond` with at most `concurrency` in flight, each to one ingress picked in turn.
   * `copies` sends every event that many times at once (a duplicate storm), spread over the ingress processes.
   */
  async run(
    events: SimulatedEvent[],
    { ratePerSecond, concurrency, copies = 1 }: { ratePerSecond: number; concurrency: number; copies?: number },
  ): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = new Array(events.length);
    const started = Date.now();
    let inFlight = 0;
    const slotFreed: (() => void)[] = [];
    const all: Promise<void>[] = [];
    for (let index = 0; index < events.length; index++) {
      const due = started + (index * 1000) / ratePerSecond;
      if (due > Date.now()) await delay(due - Date.now());
      while (inFlight >= concurrency) await new Promise<void>((resolve) => slotFreed.push(resolve));
      inFlight++;
      const event = events[index]!;
      all.push(
        (async () => {
          try {
            const results = await Promise.all(Array.from({ length: copies }, (_, copy) => this.send(event, index + copy)));
            outcomes[index] = {
              externalId: event.externalId,
              eventId: results.find((result) => result.eventId)?.eventId,
              acceptances: results.flatMap((result) => result.acceptances),
              attempts: results.reduce((sum, result) => sum + result.attempts, 0),
            };
          } finally {
            inFlight--;
            slotFreed.shift()?.();
          }
        })(),
      );
    }
    await Promise.all(all);
    return outcomes;
  }

  /** Counts of answers: by status code, connection errors by code, hangs. */
  summary(): { requests: number; byStatus: Record<string, number>; connectionErrors: Record<string, number>; hangs: number } {
    const byStatus: Record<string, number> = {};
    const connectionErrors: Record<string, number> = {};
    let hangs = 0;
    for (const record of this.responses) {
      if (record.status !== undefined) byStatus[record.status] = (byStatus[record.status] ?? 0) + 1;
      else if (record.error === 'HANG') hangs++;
      else connectionErrors[record.error!] = (connectionErrors[record.error!] ?? 0) + 1;
    }
    return { requests: this.responses.length, byStatus, connectionErrors, hangs };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async post(target: string, event: SimulatedEvent): Promise<ResponseRecord> {
    const startedAt = Date.now();
    const base = { externalId: event.externalId, target, startedAt };
    try {
      const response = await request(`${target}/webhooks/${this.options.provider}`, {
        method: 'POST',
        body: event.body,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(event.body, this.options.secret) },
        dispatcher: this.agent,
        headersTimeout: this.options.requestTimeoutMs,
        bodyTimeout: this.options.requestTimeoutMs,
      });
      const text = await response.body.text();
      const record: ResponseRecord = { ...base, status: response.statusCode, finishedAt: Date.now() };
      if (isAccepted(response.statusCode)) {
        const json = JSON.parse(text) as { id: string; duplicate: boolean };
        record.acceptance = { status: response.statusCode, id: json.id, duplicate: json.duplicate };
      }
      return record;
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      const hang = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
      return { ...base, error: hang ? 'HANG' : code, finishedAt: Date.now() };
    }
  }
}
