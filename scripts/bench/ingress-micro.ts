/**
 * The ingress HTTP path alone, for profiling changes to it: the real Express app (createHttpApp + webhookRouter
 * + the Stripe verifier) in this process, with PostgreSQL and Redis stubbed out (the writer answers at once), loaded
 * by the same autocannon child as the benchmark. Prints this process's CPU time per request — the number that
 * moves when the middleware chain, body reading, verification or answering get cheaper.
 *
 * `--real-writer` stores into PostgreSQL (a fresh migrated database, DATABASE_URL's server) and `--real-queue` enqueues
 * into Redis (REDIS_URL, a queue prefix of its own), each with the service's own class: what each costs this process
 * per request, measured without the rest of the service on the cores.
 *
 *   scripts/node.sh --import tsx scripts/bench/ingress-micro.ts [--duration=8] [--connections=64] [--express | --bare] [--real-writer] [--real-queue]
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { EventWriter } from '../../services/ingress/ingest/event-writer.js';
import { webhookRouter } from '../../services/ingress/ingest/webhook-router.js';
import { createProviderRegistry } from '../../services/ingress/verification/provider-registry.js';
import { createHttpApp } from '../../services/runtime/http-app.js';
import { listen } from '../../services/runtime/http-server.js';
import { WebhookFastPath } from '../../services/runtime/webhook-fast-path.js';
import { WebhookReceiver } from '../../services/ingress/ingest/webhook-receiver.js';
import { configureLogging, createLogger } from '../../services/shared/logging/logger.js';
import { createPool } from '../../services/shared/database/create-pool.js';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import type { HttpLoadResult } from './http-load.js';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string | undefined]));
const durationSec = Number(args.get('duration') ?? 8);
const connections = Number(args.get('connections') ?? 64);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const secret = 'whsec_micro';

configureLogging({ level: process.env.LOG_LEVEL ?? 'warn', role: 'ingress' });
const stubWriter = { insert: async () => ({ id: randomUUID(), status: 'PENDING' as const, duplicate: false }), drain: async () => undefined } as unknown as EventWriter;
const stubQueue = { enqueue: async () => undefined } as unknown as EventQueue;
const runId = `${Date.now()}`;
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const databaseName = `webhooks_micro_${runId}`;
const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${databaseName}` }).toString();
const pool = args.has('real-writer') ? (await runMigrations({ url: databaseUrl, logger: winston.createLogger({ silent: true }) }), createPool({ url: databaseUrl, size: 20, applicationName: 'webhooks-micro' })) : undefined;
const redis = args.has('real-queue') ? new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 }) : undefined;
const queuePrefix = `webhooks-micro-${runId}`;
const writer = pool ? new EventWriter({ pool }) : stubWriter;
const queue = redis ? new EventQueue({ connection: redis, name: 'webhook-events', prefix: queuePrefix, attempts: 5, backoffMs: 1000, logger: createLogger('queue') }) : stubQueue;
const providers = createProviderRegistry({ stripeSecrets: [secret], githubSecrets: [], toleranceSeconds: 300 });
const receiver = new WebhookReceiver({ writer, queue, logger: createLogger('ingress') });
const app = createHttpApp({
  logger: createLogger('http'),
  routers: [webhookRouter({ receiver, providers, writer, queue, maxBodyBytes: 1_048_576, verificationFailureLimitPerMinute: 120, logger: createLogger('ingress') })],
  health: { checks: {}, readinessChecks: [], maxHeapMb: 1024, isShuttingDown: () => false },
});
// As the service serves it: the direct path for webhooks, Express for the rest; --express: Express alone.
const listener = args.has('express')
  ? app
  : new WebhookFastPath({ providers, receiver, maxBodyBytes: 1_048_576, fallback: app, isTerminating: () => false, logger: createLogger('http') }).listener;
// --bare: the floor — node:http with only what the path must do (read the body, verify, answer), no Express.
const bare = args.has('bare');
const server = bare
  ? createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks);
        providers
          .get('stripe')!
          .verify({ rawBody, headers: req.headers, contentType: 'application/json' })
          .then(async () => {
            const stored = await writer.insert({} as never);
            const body = JSON.stringify({ id: stored.id, status: 'PENDING', duplicate: false });
            res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
            res.end(body);
          });
      });
    })
  : undefined;
// Otherwise served as the service serves it: through listen() (its timeouts and per-connection limits included).
const served = server ? undefined : await listen(listener, { port: 0, host: '127.0.0.1', isDraining: () => false });
if (server) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(served?.address ?? (server!.address() as AddressInfo)).port}`;

const child = fork(path.join(root, 'scripts/bench/http-load.ts'), [], { cwd: root, execArgv: ['--import', 'tsx'], serialization: 'advanced' });
await new Promise((resolve) => child.once('message', resolve));
const run = (label: string, seconds: number) =>
  new Promise<HttpLoadResult>((resolve) => {
    child.once('message', (message) => resolve(message as HttpLoadResult));
    child.send({ type: 'run', label, url, connections, durationSec: seconds, payloadBytes: 2048, secret, idPrefix: `evt_${Date.now()}` });
  });

await run('w', 2);
await delay(200);
const before = process.cpuUsage();
const result = await run('m', durationSec);
const used = process.cpuUsage(before);
const cpuUs = used.user + used.system;
process.stdout.write(
  `${result.responses} responses in ${result.durationSec.toFixed(1)}s (${Math.round(result.responses / result.durationSec)}/s), ` +
    `statuses ${JSON.stringify(result.statusCounts)}, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms; ` +
    `ingress CPU ${(cpuUs / result.responses).toFixed(1)} µs/request (user ${(used.user / result.responses).toFixed(1)}, system ${(used.system / result.responses).toFixed(1)})\n`,
);
child.disconnect();
server?.closeAllConnections();
server?.close();
await served?.close();
// Stored events are enqueued after their answers: the inserts in flight first, then the adds they queued, then the keys.
if (pool) await writer.drain();
await new Promise<void>((resolve) => setImmediate(resolve));
if (redis) {
  await queue.close();
  const keys = await redis.keys(`${queuePrefix}:*`);
  for (let index = 0; index < keys.length; index += 1000) await redis.del(...keys.slice(index, index + 1000));
  redis.disconnect();
}
if (pool) {
  await pool.end();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await admin.end();
}
