/**
 * Bad configuration stops the start before anything is touched: one line naming the variable (or the file) and the
 * problem, exit code 78 (EX_CONFIG) for the environment, and no migration run, not even the database created. Each
 * value here used to get past validation and fail later (after the migrations), or not at all.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { dropDatabase, withAdminClient } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';

const started: ServiceProcess[] = [];
const files: TempRoutesFile[] = [];
const cleanups: (() => void)[] = [];
/** Names handed out: a regression that lets a start get as far as the migrations leaves no database behind. */
const databases: string[] = [];

afterAll(async () => {
  for (const service of started) await service.kill();
  for (const file of files) file.remove();
  for (const cleanup of cleanups) cleanup();
  for (const name of databases) await dropDatabase(name);
});

/** A database URL on the test run's PostgreSQL naming a database that does not exist (the all role would create it). */
function unusedDatabase(): { name: string; url: string } {
  const name = `webhooks_badconfig_${process.pid}_${randomBytes(4).toString('hex')}`;
  databases.push(name);
  const url = new URL(testServiceUrls().databaseUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

const databaseExists = (name: string) =>
  withAdminClient(async (client) => ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0);

/** Starts SERVICE_ROLE=all with `env` on a database that does not exist yet; resolves once the process exited. */
async function startAll(env: Record<string, string>, database = unusedDatabase()) {
  const service = new ServiceProcess(
    { SERVICE_ROLE: 'all', DATABASE_URL: database.url, REDIS_URL: testServiceUrls().redisUrl, QUEUE_PREFIX: `badconfig-${randomBytes(4).toString('hex')}`, ...env },
    await freePort(),
  );
  started.push(service);
  await service.start({ waitForReady: false });
  const { code } = await service.exited(60_000);
  return { code, logs: service.logs, databaseCreated: await databaseExists(database.name) };
}

describe('invalid configuration stops the start before the migrations', () => {
  it.each([
    ['TRUST_PROXY', 'banana', 'invalid IP address: banana'],
    ['HOST', 'not..a..host', 'must be an IP address'],
    ['MAX_BODY_BYTES', '1e3', 'must be a whole number in decimal digits'],
    ['PAYPAL_CERT_HOSTS', 'http://evil.com', "entry 'http://evil.com' is not host[:port]"],
    // Read as no secret at all, these turned the provider off without a word: its webhooks were answered 404.
    ['STRIPE_WEBHOOK_SECRET', ',,,', 'holds no secret, only commas and blanks'],
    ['GITHUB_WEBHOOK_SECRET', ' , ', 'holds no secret, only commas and blanks'],
    // Read as no entry at all, this meant PayPal's own certificate hosts, not the list whoever set it meant.
    ['PAYPAL_CERT_HOSTS', ',,,', 'holds no host, only commas and blanks'],
  ])('%s=%s: exit 78, one line naming the variable, no database created', async (name, value, problem) => {
    const { code, logs, databaseCreated } = await startAll({ [name]: value, PAYPAL_WEBHOOK_ID: 'WH-1' });
    expect(logs).toEqual([expect.stringMatching(new RegExp(`^Invalid configuration: ${name}: `))]);
    expect(logs[0]).toContain(problem);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it('DATABASE_POOL_SIZE=2 for the all role (which runs the worker): exit 78, one line saying why, no database created', async () => {
    const { code, logs, databaseCreated } = await startAll({ DATABASE_POOL_SIZE: '2' });
    expect(logs).toEqual([
      expect.stringMatching(/^Invalid configuration: DATABASE_POOL_SIZE: must be at least 3 for SERVICE_ROLE=all \(got 2\): the reconciler's and the retention's passes each hold a connection/),
    ]);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it.each([
    ['a redis:// URL', 'redis://redis:6379'],
    ['host:port', '127.0.0.1:6379'],
  ])('REDIS_HOST as %s (without REDIS_URL): exit 78 naming REDIS_HOST, not a start that queues nothing', async (_form, value) => {
    // It used to start and look the whole value up as a host name for ever: webhooks were answered 202 and never queued.
    const { code, logs, databaseCreated } = await startAll({ REDIS_URL: '', REDIS_HOST: value });
    expect(logs).toEqual([
      'Invalid configuration: REDIS_HOST: must be a host name or an IP address, without scheme, port or path (the port goes in REDIS_PORT; a redis:// URL in REDIS_URL)',
    ]);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it('JOB_ATTEMPTS whose doubling backoff outgrows any wait (40 with JOB_BACKOFF_MS=1000): exit 78 naming both', async () => {
    // Each in bounds on its own; together the last retry came about 8,700 years after the one before, so a failing
    // event stayed FAILED and never reached DEAD_LETTER.
    const { code, logs, databaseCreated } = await startAll({ JOB_ATTEMPTS: '40', JOB_BACKOFF_MS: '1000' });
    expect(logs).toEqual([expect.stringMatching(/^Invalid configuration: JOB_ATTEMPTS: 40 attempts with JOB_BACKOFF_MS=1000 wait up to 8,716 years before the last retry .* at most 23 with this backoff/)]);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it('DATABASE_URL with a port that is no number: exit 78 naming DATABASE_URL, not a bare "Invalid URL"', async () => {
    const { name } = unusedDatabase();
    const server = new URL(testServiceUrls().databaseUrl);
    const url = `postgresql://${server.username ? `${server.username}@` : ''}${server.hostname}:notaport/${name}`;
    const { code, logs, databaseCreated } = await startAll({}, { name, url });
    expect(logs).toEqual([expect.stringMatching(/^Invalid configuration: DATABASE_URL: not a valid URL/)]);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it("DATABASE_URL with an unencoded '#' in the password: exit 78 naming DATABASE_URL and percent-encoding, not 120 s of retries", async () => {
    const { name } = unusedDatabase();
    const server = new URL(testServiceUrls().databaseUrl);
    // Parses as host "ss" and no database: it used to pass validation, then retry ENOTFOUND for STARTUP_WAIT_MS.
    const url = `postgresql://postgres:p@ss#word@${server.hostname}:${server.port || 5432}/${name}`;
    const { code, logs, databaseCreated } = await startAll({}, { name, url });
    expect(logs).toEqual([
      "Invalid configuration: DATABASE_URL: contains '#', which ends a URL: percent-encode it in the user name or password (# is %23, @ is %40, / is %2F, ? is %3F)",
    ]);
    expect(code).toBe(78);
    expect(databaseCreated).toBe(false);
  });

  it('PORT held by another process: one line naming PORT, before the migrations (no database created)', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const database = unusedDatabase();
      const service = new ServiceProcess(
        { SERVICE_ROLE: 'all', DATABASE_URL: database.url, REDIS_URL: testServiceUrls().redisUrl, QUEUE_PREFIX: `badconfig-${randomBytes(4).toString('hex')}` },
        port,
      );
      started.push(service);
      await service.start({ waitForReady: false });
      const { code } = await service.exited(60_000);
      expect(service.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
        `Failed to start: port ${port} on 127.0.0.1 is already in use (PORT): stop what listens there, or set PORT to a free port`,
      ]);
      expect(code).toBe(1);
      expect(await databaseExists(database.name)).toBe(false);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('ROUTES_FILE with an unknown key: one line naming the file, the route and the key, no database created', async () => {
    const routes = writeRoutesFile({
      destinations: { billing: { url: 'http://billing.internal/hooks' } },
      routes: [{ provider: 'stripe', to: ['billing'], fliter: { eventType: 'invoice.paid' } } as RoutesDocument['routes'][number]],
    });
    files.push(routes);
    const { code, logs, databaseCreated } = await startAll({ ROUTES_FILE: routes.path });
    expect(logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      `Failed to start: ROUTES_FILE ${routes.path}: routes.0: unknown key "fliter" (a route takes provider, events, filter, transform, to)`,
    ]);
    expect(code).toBe(1);
    expect(databaseCreated).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['only a comment', '# routes come later\n'],
  ])('ROUTES_FILE that is %s: one line naming the file, no database created (not a worker that delivers nothing)', async (_what, text) => {
    // Read as no destinations and no routes, it used to start: every event COMPLETED with nothing delivered.
    const routes = writeRoutesFile({ destinations: {}, routes: [] });
    writeFileSync(routes.path, text);
    files.push(routes);
    const { code, logs, databaseCreated } = await startAll({ ROUTES_FILE: routes.path });
    expect(logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      `Failed to start: ROUTES_FILE ${routes.path}: holds no destinations or routes (the file is empty, or only comments or null): every event would be COMPLETED with nothing delivered; write "routes: []" to deliver nothing on purpose, or unset ROUTES_FILE`,
    ]);
    expect(code).toBe(1);
    expect(databaseCreated).toBe(false);
  });

  it('ROUTES_FILE naming a destination twice: one line with the line and column, and no stack trace in any log line', async () => {
    // YAML would let the second `billing` replace the first; the parser refuses duplicate keys instead. The JSON
    // record of the failure used to carry the error's stack (frames into the YAML parser) next to that line.
    const routes = writeRoutesFile({ destinations: {}, routes: [] });
    writeFileSync(routes.path, 'destinations:\n  billing:\n    url: http://billing.internal/a\n  billing:\n    url: http://billing.internal/b\nroutes:\n  - provider: stripe\n    to: [billing]\n');
    files.push(routes);
    const { code, logs, databaseCreated } = await startAll({ ROUTES_FILE: routes.path });
    const problem = `ROUTES_FILE ${routes.path}: not valid YAML: Map keys must be unique at line 4, column 3`;
    expect(logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([`Failed to start: ${problem}`]);
    const failed = logs.filter((line) => line.includes('service failed to start')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(failed).toEqual([expect.objectContaining({ level: 'error', problem })]);
    expect(logs.filter((line) => line.includes('"stack"') || line.includes('    at '))).toEqual([]);
    expect(code).toBe(1);
    expect(databaseCreated).toBe(false);
  });

  it('an environment reference the files do not expand (${NAME}) in an hmac secret or a header value: one line naming it', async () => {
    // Taken as written, ${ACME_SECRET} was the secret: every signature failed (401); a header `Bearer ${TOKEN}` was
    // sent as is and every delivery refused by its destination. Nothing at start said so.
    const dir = mkdtempSync(join(tmpdir(), 'env-reference-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const providersPath = join(dir, 'providers.yaml');
    writeFileSync(providersPath, 'providers:\n  acme:\n    type: hmac\n    header: X-Acme-Signature\n    algorithm: sha256\n    encoding: hex\n    secrets: ["${ACME_SECRET}"]\n');
    const providers = await startAll({ PROVIDERS_FILE: providersPath });
    expect(providers.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      `Failed to start: Invalid PROVIDERS_FILE ${providersPath}: providers.acme.secrets[0]: holds the environment reference \${ACME_SECRET}, which is not expanded (the file is read as written): put the value itself in the file (the chart keeps both files in a Secret)`,
    ]);
    expect(providers.code).toBe(1);
    expect(providers.databaseCreated).toBe(false);

    const routesPath = join(dir, 'routes.yaml');
    writeFileSync(routesPath, 'destinations:\n  billing:\n    url: http://billing.internal/hooks\n    headers: { Authorization: "Bearer ${BILLING_TOKEN}" }\nroutes:\n  - provider: stripe\n    to: [billing]\n');
    const routes = await startAll({ ROUTES_FILE: routesPath });
    expect(routes.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      expect.stringContaining(`Failed to start: ROUTES_FILE ${routesPath}: destination "billing": headers`),
    ]);
    expect(routes.logs.find((line) => line.startsWith('Failed to start:'))).toContain('value holds the environment reference ${BILLING_TOKEN}, which is not expanded');
    expect(routes.code).toBe(1);
    expect(routes.databaseCreated).toBe(false);

    // A destination's secret said only that it was not base64.
    writeFileSync(routesPath, 'destinations:\n  billing:\n    url: http://billing.internal/hooks\n    secret: ${BILLING_SECRET}\nroutes:\n  - provider: stripe\n    to: [billing]\n');
    const secret = await startAll({ ROUTES_FILE: routesPath });
    expect(secret.logs.filter((line) => line.startsWith('Failed to start:'))).toEqual([
      `Failed to start: ROUTES_FILE ${routesPath}: destination "billing": secret: holds the environment reference \${BILLING_SECRET}, which is not expanded (the file is read as written): put the value itself in the file (the chart keeps both files in a Secret)`,
    ]);
    expect(secret.code).toBe(1);
  });

  it.each([
    ['without the tracing preload', false],
    ['with the tracing preload (npm start, the image)', true],
  ])('DOTENV_CONFIG_PATH naming a file that does not exist, %s: exit 78 naming it, not a start on the defaults', async (_how, preloadTelemetry) => {
    // It used to be skipped without a word: the service started with none of the file's settings.
    const database = unusedDatabase();
    const missing = join(tmpdir(), `no-such-dir-${randomBytes(4).toString('hex')}`, 'service.env');
    const service = new ServiceProcess(
      { SERVICE_ROLE: 'all', DATABASE_URL: database.url, REDIS_URL: testServiceUrls().redisUrl, DOTENV_CONFIG_PATH: missing },
      await freePort(),
      { preloadTelemetry },
    );
    started.push(service);
    await service.start({ waitForReady: false });
    const { code } = await service.exited(60_000);
    expect(service.logs).toEqual([
      `Invalid configuration: DOTENV_CONFIG_PATH: cannot read ${missing} (ENOENT): name a readable file, /dev/null to read none, or unset it to read ./.env when present`,
    ]);
    expect(code).toBe(78);
    expect(await databaseExists(database.name)).toBe(false);
  });
});
