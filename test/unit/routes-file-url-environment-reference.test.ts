/**
 * ROUTES_FILE is read as written (README, Configuration: "Neither file is expanded"). A destination URL written with
 * an environment reference, as docker compose files and shell scripts write them (`amqp://app:${RABBIT_PASSWORD}@…`,
 * `http://${BILLING_HOST}/hooks`), is a URL all the same to the URL parser: it was accepted, and every delivery then
 * failed at send time (the broker refusing the password `${RABBIT_PASSWORD}`, no host named `${billing_host}`) until
 * the event was dead-lettered, with nothing at start saying why. It stops the start like a secret or header value
 * holding one, naming the file, the destination, the key and the reference, never the rest of the URL (a password).
 */
import { describe, expect, it } from '@jest/globals';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const NOT_EXPANDED = 'which is not expanded (the file is read as written): put the value itself in the file (the chart keeps both files in a Secret)';

const problemOf = (text: string): string => {
  try {
    parseRoutes(text, SOURCE);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('ROUTES_FILE: a destination URL holding an environment reference', () => {
  it.each([
    ['an http host', 'billing: { url: "http://${BILLING_HOST}/hooks" }', 'billing', '${BILLING_HOST}'],
    ['an http password', 'billing: { url: "https://hooks:${BILLING_PASSWORD}@billing.internal/hooks" }', 'billing', '${BILLING_PASSWORD}'],
    ['an http query token', 'billing: { url: "https://billing.internal/hooks?token=${TOKEN}" }', 'billing', '${TOKEN}'],
    ['an amqp password', 'bus: { type: amqp, url: "amqp://app:${RABBIT_PASSWORD}@rabbitmq:5672", exchange: webhooks, routingKey: "{provider}" }', 'bus', '${RABBIT_PASSWORD}'],
    ['an amqp host with a default', 'bus: { type: amqp, url: "amqp://${RABBIT_HOST:-rabbitmq}:5672", exchange: webhooks, routingKey: "{provider}" }', 'bus', '${RABBIT_HOST:-rabbitmq}'],
    ['a nats token', 'stream: { type: nats, url: "nats://${NATS_TOKEN}@nats:4222", subject: "webhooks.{eventType}" }', 'stream', '${NATS_TOKEN}'],
    ['a port', 'billing: { url: "http://billing.internal:${BILLING_PORT}/hooks" }', 'billing', '${BILLING_PORT}'],
  ])('%s stops the start, naming the file, the destination, url and the reference', (_case, destination, name, reference) => {
    const message = problemOf(`destinations:\n  ${destination}\nroutes: []\n`);
    expect(message).toBe(`${SOURCE}: destination "${name}": url: holds the environment reference ${reference}, ${NOT_EXPANDED}`);
  });

  it('never echoes the rest of the URL (its password)', () => {
    const message = problemOf('destinations:\n  bus: { type: amqp, url: "amqp://app:s3cret-${SUFFIX}@rabbitmq:5672", exchange: webhooks, routingKey: "{provider}" }\nroutes: []\n');
    expect(message).toContain('${SUFFIX}');
    expect(message).not.toContain('s3cret');
  });

  it('takes URLs with a `$` that is no environment reference', () => {
    expect(problemOf('destinations:\n  billing: { url: "https://billing.internal/hooks/$batch?price=$5" }\nroutes: []\n')).toBe('accepted');
    expect(problemOf('destinations:\n  billing: { url: "https://hooks:pa$$word@billing.internal/hooks" }\nroutes: []\n')).toBe('accepted');
  });
});
