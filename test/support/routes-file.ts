import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** The ROUTES_FILE document, as the service reads it. */
export interface RoutesDocument {
  destinations: Record<
    string,
    {
      /** http when absent; amqp needs exchange and routingKey, nats needs subject. */
      type?: 'http' | 'amqp' | 'nats';
      url: string;
      exchange?: string;
      routingKey?: string;
      subject?: string;
      secret?: string;
      timeoutMs?: number;
      maxConcurrency?: number;
      /** amqp only: a message over it is not sent (the event's failure). */
      maxMessageBytes?: number;
      headers?: Record<string, string>;
      rateLimit?: { perSecond: number };
      circuitBreaker?: boolean | { failureThreshold?: number; cooldownMs?: number };
    }
  >;
  defaults?: { circuitBreaker?: boolean | { failureThreshold?: number; cooldownMs?: number } };
  routes: { provider: string; events?: string[]; filter?: Record<string, unknown>; transform?: string; to: string[] }[];
}

/** A ROUTES_FILE written to a temporary directory of its own; `remove()` deletes it. */
export interface TempRoutesFile {
  path: string;
  remove(): void;
}

export function writeRoutesFile(document: RoutesDocument): TempRoutesFile {
  const dir = mkdtempSync(join(tmpdir(), 'routes-test-'));
  const path = join(dir, 'routes.yaml');
  writeFileSync(path, stringify(document), 'utf8');
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
