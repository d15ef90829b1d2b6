import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { jetstreamManager, type JetStreamManager, type StoredMsg, type StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The RabbitMQ and NATS (JetStream on) the broker tests run against: this machine's, unless these say otherwise. */
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A suffix for a test's own exchange, queue, stream and subject names, so runs never see each other's messages. */
export const uniqueSuffix = (): string => randomBytes(4).toString('hex');

/**
 * A test's view of RabbitMQ: declares its queues (bound to the exchanges the service publishes to), collects what
 * reaches them with basic.get, and deletes everything it declared at the end.
 */
export class RabbitTap {
  private readonly queues = new Set<string>();
  private readonly exchanges = new Set<string>();
  private readonly collected = new Map<string, GetMessage[]>();

  private constructor(
    private readonly connection: ChannelModel,
    private channel: Channel,
  ) {}

  static async open(url = AMQP_URL): Promise<RabbitTap> {
    const connection = await amqp.connect(url).catch((error: Error) => {
      throw new Error(`these tests need RabbitMQ at ${url.replace(/\/\/[^@]*@/, '//')} (TEST_AMQP_URL): ${error.message}`);
    });
    connection.on('error', () => undefined);
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return new RabbitTap(connection, channel);
  }

  /** Declares `exchange` as the service does (durable topic), and a durable queue bound to it with `pattern`. */
  async bindQueue(queue: string, exchange: string, pattern: string, queueArguments: Record<string, unknown> = {}): Promise<void> {
    this.exchanges.add(exchange);
    this.queues.add(queue);
    await this.channel.assertExchange(exchange, 'topic', { durable: true });
    await this.channel.assertQueue(queue, { durable: true, arguments: queueArguments });
    await this.channel.bindQueue(queue, exchange, pattern);
  }

  /** Remembers an exchange the service declares, so that cleanup deletes it. */
  forget(exchange: string): void {
    this.exchanges.add(exchange);
  }

  /** Deletes `exchange` (as an operator might, under a running service). */
  async deleteExchange(exchange: string): Promise<void> {
    await this.channel.deleteExchange(exchange);
  }

  /** Everything that reached `queue` so far (taken off the queue with basic.get and acknowledged). */
  async messages(queue: string): Promise<GetMessage[]> {
    const list = this.collected.get(queue) ?? [];
    this.collected.set(queue, list);
    for (;;) {
      const message = await this.channel.get(queue, { noAck: true });
      if (!message) return list;
      list.push(message);
    }
  }

  /** Messages in `queue` carrying this AMQP messageId. */
  async messagesFor(queue: string, messageId: string): Promise<GetMessage[]> {
    return (await this.messages(queue)).filter((message) => message.properties.messageId === messageId);
  }

  /** Whether the exchange exists as a durable topic exchange (a declaration with other settings is refused). */
  async isDurableTopicExchange(exchange: string): Promise<boolean> {
    const probe = await this.connection.createChannel();
    probe.on('error', () => undefined);
    try {
      await probe.checkExchange(exchange);
      await probe.assertExchange(exchange, 'topic', { durable: true });
      await probe.close();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const channel = await this.connection.createChannel().catch(() => this.channel);
    channel.on('error', () => undefined);
    for (const queue of this.queues) await channel.deleteQueue(queue).catch(() => undefined);
    for (const exchange of this.exchanges) await channel.deleteExchange(exchange).catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

/** A test's view of JetStream: creates its streams, reads what they stored, deletes them at the end. */
export class JetStreamTap {
  private readonly streams = new Set<string>();

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
  ) {}

  static async open(url = NATS_URL): Promise<JetStreamTap> {
    const parsed = new URL(url);
    const credentials = parsed.username ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : {};
    const nc = await connect({ servers: `${parsed.hostname}:${parsed.port || 4222}`, ...credentials }).catch((error: Error) => {
      throw new Error(`these tests need NATS with JetStream at ${parsed.host} (TEST_NATS_URL): ${error.message}`);
    });
    return new JetStreamTap(nc, await jetstreamManager(nc));
  }

  /**
   * A file-stored stream capturing `subjects`, deduplicating on Nats-Msg-Id within `duplicateWindowMs`; `limits` adds
   * to its configuration (e.g. `max_msg_size`).
   */
  async createStream(name: string, subjects: string[], duplicateWindowMs = 120_000, limits: Partial<StreamConfig> = {}): Promise<void> {
    this.streams.add(name);
    await this.jsm.streams.add({ ...limits, name, subjects, duplicate_window: duplicateWindowMs * 1_000_000 });
  }

  /** Every message the stream holds, in order. */
  async messages(stream: string): Promise<StoredMsg[]> {
    const { state } = await this.jsm.streams.info(stream);
    const out: StoredMsg[] = [];
    if (state.messages === 0) return out;
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const message = await this.jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (message) out.push(message);
    }
    return out;
  }

  /** Messages stored for this event: its id is their `webhook-id` (`Nats-Msg-Id` is the event id and destination). */
  async messagesFor(stream: string, eventId: string): Promise<StoredMsg[]> {
    return (await this.messages(stream)).filter((message) => message.header?.get('webhook-id') === eventId);
  }

  async close(): Promise<void> {
    for (const stream of this.streams) await this.jsm.streams.delete(stream).catch(() => undefined);
    await this.nc.close().catch(() => undefined);
  }
}

/** A StoredMsg's headers as a plain record (first value of each). */
export function natsHeaders(message: StoredMsg): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of message.header ?? []) out[name] = values[0] ?? '';
  return out;
}
