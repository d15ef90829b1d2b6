import type { BrokerPublisherOptions, Deliverer } from './deliverer.js';
import { AmqpPublisher } from './amqp-publisher.js';
import { NatsPublisher } from './nats-publisher.js';

/** The deliverers of the broker destination types, by type. */
export interface BrokerDeliverers {
  amqp?: Deliverer;
  nats?: Deliverer;
}

/**
 * The worker's broker deliverers: RabbitMQ (`amqp`) and NATS JetStream (`nats`). Each connects lazily, once per
 * broker URL, on the first delivery to a destination on it, and keeps that connection for the process's life.
 */
export class BrokerPublishers implements BrokerDeliverers {
  readonly amqp: AmqpPublisher;
  readonly nats: NatsPublisher;

  constructor(options: BrokerPublisherOptions) {
    this.amqp = new AmqpPublisher(options);
    this.nats = new NatsPublisher(options);
  }

  /** Publishes not yet holding a destination's slot are not started; those in flight finish. */
  stopStartingDeliveries(): void {
    this.amqp.stopStartingDeliveries();
    this.nats.stopStartingDeliveries();
  }

  /** Closes every broker connection; call once the worker has stopped taking jobs. */
  async close(): Promise<void> {
    await Promise.all([this.amqp.close(), this.nats.close()]);
  }
}
