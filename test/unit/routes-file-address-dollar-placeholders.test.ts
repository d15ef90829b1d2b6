/**
 * A broker destination's address as JavaScript template literals and shells write values (`${eventType}`,
 * `${RABBIT_EXCHANGE}`). ROUTES_FILE is not expanded and its templates name fields as `{provider}` / `{eventType}`, so
 * `"webhooks.${provider}.${eventType}"` was accepted with the `$` kept: every event went to
 * `webhooks.$stripe.$invoice.paid`, which a stream capturing `webhooks.>` stores (the event COMPLETED) where no
 * consumer of `webhooks.stripe.>` looks; a RabbitMQ routing key `$stripe.$invoice.paid` matched no binding. An exchange
 * `${RABBIT_EXCHANGE}` was declared under that name. Each stops the start, naming the destination, the key and what
 * to write.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const bus = (exchange: string, routingKey: string) =>
  `destinations:\n  bus: { type: amqp, url: "amqp://rabbitmq:5672", exchange: ${JSON.stringify(exchange)}, routingKey: ${JSON.stringify(routingKey)} }\nroutes: []\n`;
const stream = (subject: string) => `destinations:\n  stream: { type: nats, url: "nats://nats:4222", subject: ${JSON.stringify(subject)} }\nroutes: []\n`;

const problemOf = (text: string): string => {
  try {
    parseRoutes(text, SOURCE);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('ROUTES_FILE broker addresses written with ${…}', () => {
  it('a template naming a field as ${provider} / ${eventType} stops the start, saying to write {provider}', () => {
    expect(problemOf(stream('webhooks.${provider}.${eventType}'))).toBe(
      `${SOURCE}: destination "stream": subject: "webhooks.\${provider}.\${eventType}" writes \${provider}: a template field is written {provider}, without "$" (the file is not expanded; the "$" would be part of every address)`,
    );
    expect(problemOf(bus('webhooks', '{provider}.${eventType}'))).toBe(
      `${SOURCE}: destination "bus": routingKey: "{provider}.\${eventType}" writes \${eventType}: a template field is written {eventType}, without "$" (the file is not expanded; the "$" would be part of every address)`,
    );
  });

  it('an exchange holding an environment reference stops the start naming it', () => {
    expect(problemOf(bus('${RABBIT_EXCHANGE}', '{provider}.{eventType}'))).toBe(
      `${SOURCE}: destination "bus": exchange: holds the environment reference \${RABBIT_EXCHANGE}, which is not expanded (the file is read as written): put the value itself in the file (the chart keeps both files in a Secret)`,
    );
  });

  it('takes templates as README writes them, and a "$" elsewhere in an address', () => {
    expect(problemOf(stream('webhooks.{provider}.{eventType}'))).toBe('accepted');
    expect(problemOf(bus('webhooks', '{provider}.{eventType}'))).toBe('accepted');
    expect(problemOf(bus('billing$events', 'cost$.{eventType}'))).toBe('accepted');
  });
});
