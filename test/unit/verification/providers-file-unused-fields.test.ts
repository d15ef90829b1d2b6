/**
 * PROVIDERS_FILE definitions the loader accepts although part of them can never take effect, so the provider does
 * something else than its file says, with no word at start (the README: configuration that cannot work stops the
 * start with one line naming the file, the entry and the problem):
 * - `idHeader` together with `idField` (or `typeHeader` with `typeField`): the README offers them as alternatives
 *   ("idHeader: … # or idField: path.in.body"); given both, the body field is silently ignored and the event is keyed
 *   on the unsigned header, which the README's security table says is what `idField` avoids;
 * - an `idField` / `typeField` through an array (`items.0.id`): the dot path never enters arrays, so every correctly
 *   signed delivery is answered 400 "event id is missing".
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { parseProvidersFile } from '../../../services/ingress/verification/providers-file.js';
import { createVerifierFromDefinition } from '../../../services/ingress/verification/provider-registry.js';
import { webhookRequest } from './helpers.js';

const FILE = '/etc/webhooks/providers.yaml';
const base = (extra: string) =>
  `providers:\n  shop:\n    type: hmac\n    header: X-Sig\n    algorithm: sha256\n    encoding: hex\n    secrets: [s3cr3t-value]\n${extra}`;
const sign = (body: string) => createHmac('sha256', 's3cr3t-value').update(body).digest('hex');

/** What the file does: refused at load (the message), or what a correctly signed delivery is stored as. */
async function outcome(extra: string, body: string, headers: Record<string, string>): Promise<string> {
  let definitions;
  try {
    definitions = parseProvidersFile(base(extra), FILE);
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  }
  const verifier = createVerifierFromDefinition(definitions[0]!, 300);
  try {
    const verified = await verifier.verify(webhookRequest(body, { 'x-sig': sign(body), ...headers }));
    return `stored as ${verified.externalId} / ${verified.eventType}`;
  } catch (error) {
    return `answered 4xx: ${(error as Error).message}`;
  }
}

describe('PROVIDERS_FILE fields that can never take effect', () => {
  it('idHeader with idField: refused, not the body field silently ignored', async () => {
    const body = JSON.stringify({ data: { id: 'order-1' }, type: 'orders/paid' });
    const result = await outcome('    idHeader: X-Delivery\n    idField: data.id\n', body, { 'x-delivery': 'delivery-7' });
    // Today: "stored as delivery-7 / orders/paid" — the configured body field is not used.
    expect(result).toMatch(/^refused: Invalid PROVIDERS_FILE \/etc\/webhooks\/providers\.yaml: providers\.shop.*idField/);
  });

  it('typeHeader with typeField: refused, not the body field silently ignored', async () => {
    const body = JSON.stringify({ id: 'evt-1', kind: 'orders/paid' });
    const result = await outcome('    typeHeader: X-Topic\n    typeField: kind\n', body, { 'x-topic': 'orders/updated' });
    expect(result).toMatch(/^refused: Invalid PROVIDERS_FILE .*providers\.shop.*typeField/);
  });

  it('an idField through an array: refused at load, or it finds the id', async () => {
    const body = JSON.stringify({ items: [{ id: 'evt-1' }], type: 'orders/paid' });
    const result = await outcome('    idField: items.0.id\n', body, {});
    // Today: "answered 4xx: Webhook event id is missing or invalid (body field 'items.0.id')" for every delivery.
    expect(result).toMatch(/^(refused: Invalid PROVIDERS_FILE .*providers\.shop\.idField|stored as evt-1 )/);
  });
});
