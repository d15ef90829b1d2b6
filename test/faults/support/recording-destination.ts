import { HttpSink } from '../../support/http-sink.js';

/** How a destination answers the `nth` (1-based) request carrying one `webhook-id`. */
export type DestinationBehaviour = (webhookId: string, nth: number) => { status: number; delayMs?: number };

/**
 * A destination (an {@link HttpSink}) that books every request by `webhook-id`: what it answered, how often, and
 * which requests are still being answered (in flight). A 2xx answer counts as "delivered": the receiver took it,
 * whether or not the worker lived to read the answer.
 */
export class RecordingDestination {
  readonly sink: HttpSink;
  /** Statuses answered, per webhook-id, in order. */
  readonly answers = new Map<string, number[]>();
  /** webhook-ids of requests received whose (delayed) answer is not sent yet. */
  readonly inFlight = new Set<string>();

  constructor(
    readonly name: string,
    behaviour: DestinationBehaviour = () => ({ status: 200 }),
  ) {
    this.sink = new HttpSink((request) => {
      const id = String(request.headers['webhook-id'] ?? '');
      const answered = this.answers.get(id) ?? [];
      this.answers.set(id, answered);
      const decision = behaviour(id, answered.length + 1);
      answered.push(decision.status);
      if (decision.delayMs) {
        this.inFlight.add(id);
        setTimeout(() => this.inFlight.delete(id), decision.delayMs).unref();
      }
      return decision;
    });
  }

  async start(): Promise<this> {
    await this.sink.start();
    return this;
  }

  get url(): string {
    return this.sink.url;
  }

  /** 2xx answers given for this webhook-id. */
  deliveries(webhookId: string): number {
    return (this.answers.get(webhookId) ?? []).filter((status) => status >= 200 && status < 300).length;
  }

  get requestCount(): number {
    return this.sink.requests.length;
  }

  stop(): Promise<void> {
    return this.sink.stop();
  }
}
