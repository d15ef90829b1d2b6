import net from 'node:net';
import { stripeSignatureHeader } from './provider-simulator.js';
import type { InProcessService } from './service-harness.js';

/** The port of an in-process service. */
export const portOf = (service: InProcessService) => Number(new URL(service.baseUrl).port);

/** A raw connection that records what it receives (latin1), with a helper to wait (polling, with a deadline). */
export function open(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const state = { raw: '', closed: false };
  socket.on('data', (chunk) => (state.raw += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (state.closed = true));
  const waitFor = (predicate: () => boolean, ms: number) => waitUntil(predicate, ms);
  return { socket, state, waitFor };
}

/** Polls `predicate` every 25 ms until it holds or `ms` have passed; what it last returned. */
export async function waitUntil(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  return predicate();
}

/** The status lines of the answers in `raw`, in order. */
export const statusLines = (raw: string) => raw.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? [];

/** The head of the first answer in `raw`, its header names lower-cased. */
export function firstHead(raw: string): { status: string; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = raw.split('\r\n\r\n')[0]!.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: statusLine, headers };
}

/** The sum of the series of the service's /metrics matching `series`. */
export async function metricValue(service: InProcessService, series: RegExp): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (series.test(line)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** The values of the series matching `series`, by their `outcome` label. */
export async function metricsByOutcome(service: InProcessService, series: RegExp): Promise<Record<string, number>> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!series.test(line)) continue;
    const outcome = /outcome="([^"]*)"/.exec(line)?.[1] ?? '?';
    values[outcome] = Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return values;
}

/** The head of a Stripe webhook POST to `path` signed with `secret`, declaring `body`'s length; `extra` more header lines. */
export function signedStripeHead(path: string, body: string, secret: string, extra = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Stripe-Signature: ${stripeSignatureHeader(body, secret)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`
  );
}
