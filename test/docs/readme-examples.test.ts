/**
 * The README's examples, as written: every PROVIDERS_FILE and ROUTES_FILE block is read by the service's own
 * loaders, the quickstart's signed-Stripe snippet is run by bash against a real service (only its port is the
 * test's own), and so are the README's admin API commands and the runbook's (docs/runbooks.md) commands that need no
 * kubectl, each checked for what it answers. The service each runs against is started by the README's own command for
 * it (`STRIPE_WEBHOOK_SECRET=whsec_demo npm start`, `ADMIN_API_TOKEN=dev-admin-token npm start`), run by bash as
 * written; the test gives it, in the environment only, its port, database and queue namespace (and, for the admin
 * commands, the ROUTES_FILE naming `billing` that the README asks the reader for, and one attempt per event).
 *
 * What the test substitutes in a command, and nothing else:
 * - `localhost:3000` → the test's service (`127.0.0.1:<its port>`);
 * - `<id>` → the id of an event the test made a dead letter; the runbook's `<provider>` → `stripe`,
 *   `<destination>` → `billing`, the destination of the test's ROUTES_FILE (the README names `billing` itself);
 * - `$TOKEN`: the README's block sets it itself (to the token of its `ADMIN_API_TOKEN=… npm start`, which the
 *   service is started with); the runbook reads it with kubectl, so there the test gives it in the environment.
 * A runbook line that runs kubectl is left out; without jq, a `| jq …` stage is left out too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { parseProvidersFile } from '../../services/ingress/verification/providers-file.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { adminRequest } from '../support/admin-client.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { ReadmeCommandProcess } from '../support/readme-command-process.js';
import { freePort } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const runbooks = readFileSync(path.join(root, 'docs/runbooks.md'), 'utf8');

/** Fenced code blocks of one language, in order; a block indented in a list item is dedented. */
function blocks(language: string, text = readme): string[] {
  return [...text.matchAll(new RegExp('^([ \\t]*)```' + language + '\\n([\\s\\S]*?)^[ \\t]*```', 'gm'))].map(([, indent, body]) =>
    body!.replace(new RegExp(`^${indent}`, 'gm'), ''),
  );
}

/** The README's command that starts the service with `variable` set, as written (`VARIABLE=value npm start`). */
const startCommand = (variable: string) => new RegExp('`(' + variable + '=\\S+ npm start)`').exec(readme)?.[1];

/** A block's shell lines: continuation lines joined, comments and blank lines dropped. */
const shellLines = (block: string) =>
  block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

describe('README configuration examples', () => {
  const yamlBlocks = blocks('yaml').map((text) => ({ text, document: parse(text) as Record<string, unknown> | null }));

  it('has the PROVIDERS_FILE and ROUTES_FILE examples', () => {
    expect(yamlBlocks.filter(({ document }) => document && 'providers' in document).length).toBeGreaterThanOrEqual(1);
    expect(yamlBlocks.filter(({ document }) => document && 'destinations' in document).length).toBeGreaterThanOrEqual(1);
  });

  it('every PROVIDERS_FILE example is accepted by the service, as written', () => {
    for (const { text, document } of yamlBlocks.filter(({ document }) => document && 'providers' in document)) {
      expect(() => parseProvidersFile(text, 'README PROVIDERS_FILE example')).not.toThrow();
      expect(parseProvidersFile(text, 'README').length).toBe(Object.keys(document!.providers as object).length);
    }
  });

  it('every ROUTES_FILE example is accepted by the service, as written', () => {
    for (const { text } of yamlBlocks.filter(({ document }) => document && 'destinations' in document)) {
      expect(() => parseRoutes(text, 'README ROUTES_FILE example')).not.toThrow();
    }
  });
});

describe('README quickstart: send it a signed Stripe event', () => {
  let db: TestDatabase;
  let ns: TestQueueNamespace;
  let service: ReadmeCommandProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    ns = createQueueNamespace();
    const command = startCommand('STRIPE_WEBHOOK_SECRET');
    expect(command).toBe('STRIPE_WEBHOOK_SECRET=whsec_demo npm start');
    service = await new ReadmeCommandProcess(command!, { DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix }, await freePort()).start();
  }, 240_000);

  afterAll(async () => {
    await service?.kill();
    await ns?.cleanup();
    await db?.drop();
  });

  it('answers 202, then 200 duplicate to the same request', () => {
    const snippet = blocks('sh').find((text) => text.includes('curl') && text.includes('stripe-signature'));
    expect(snippet).toBeDefined();
    expect(snippet).toContain('localhost:3000');
    const run = () => execFileSync('bash', ['-euo', 'pipefail', '-c', snippet!.replaceAll('localhost:3000', `127.0.0.1:${service.port}`)], { encoding: 'utf8' });
    const first = run();
    expect(first).toMatch(/^HTTP\/1\.1 202/);
    expect(first).toContain('"status":"PENDING","duplicate":false');
    const again = run();
    expect(again).toMatch(/^HTTP\/1\.1 200/);
    expect(again).toContain('"duplicate":true');
  });
});

describe('curl examples that send a body say it is JSON', () => {
  it.each([
    ['README.md', readme],
    ['docs/runbooks.md', runbooks],
  ])('%s', (_name, text) => {
    const withBody = blocks('sh', text)
      .flatMap(shellLines)
      .filter((line) => /\bcurl\b/.test(line) && /\s(-d|--data(-raw|-binary)?)\s/.test(line));
    expect(withBody.length).toBeGreaterThan(0);
    // The admin API answers 415 to a body of any other type; curl -d alone sends application/x-www-form-urlencoded.
    for (const line of withBody) expect(line).toMatch(/-H ['"]content-type: application\/json['"]/i);
  });
});

describe('the admin API commands of the README and the runbooks, run as written', () => {
  const haveJq = spawnSync('sh', ['-c', 'command -v jq']).status === 0;
  let db: TestDatabase;
  let ns: TestQueueNamespace;
  let routesFile: TempRoutesFile;
  let service: ReadmeCommandProcess;
  let token: string;
  /** The test's events: two dead letters (routed to a destination nothing listens for) and one COMPLETED. */
  const ids = { deadA: '', deadB: '', completed: '' };

  const event = async (id: string) => (await adminRequest(service.baseUrl, token, 'GET', `/admin/events/${id}`)).json as { status: string };
  const eventually = (description: string, probe: () => Promise<boolean>) => waitFor(description, probe, { timeoutMs: 30_000, intervalMs: 100 });
  const statusOf = async (id: string) => (await event(id)).status;

  /** Runs one command through bash with the documented substitutions; its output parsed as JSON. */
  const run = (prelude: string[], command: string, env: Record<string, string> = {}): unknown => {
    let script = [...prelude, command].join('\n').replaceAll('localhost:3000', `127.0.0.1:${service.port}`);
    script = script.replaceAll('<id>', ids.deadA).replaceAll('<provider>', 'stripe').replaceAll('<destination>', 'billing');
    if (!haveJq) script = script.replace(/\|\s*jq\s+'[^']*'/g, '');
    const output = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    try {
      return JSON.parse(output);
    } catch {
      throw new Error(`not JSON: ${command}\n${output}`);
    }
  };

  beforeAll(async () => {
    const command = startCommand('ADMIN_API_TOKEN');
    token = /^ADMIN_API_TOKEN=(\S+) /.exec(command ?? '')?.[1] ?? '';
    expect(token).not.toBe('');
    [db, ns] = [await createTestDatabase(), createQueueNamespace()];
    // `billing` is what the README's pause and resume name; nothing listens at its URL, so every attempt fails.
    routesFile = writeRoutesFile({
      destinations: { billing: { url: `http://127.0.0.1:${await freePort()}/hooks`, timeoutMs: 1000 } },
      routes: [{ provider: 'stripe', events: ['invoice.*'], to: ['billing'] }],
    });
    const secret = 'whsec_docs_admin_examples';
    service = await new ReadmeCommandProcess(
      command!,
      {
        DATABASE_URL: db.url,
        REDIS_URL: ns.redisUrl,
        QUEUE_PREFIX: ns.prefix,
        STRIPE_WEBHOOK_SECRET: secret,
        ROUTES_FILE: routesFile.path,
        // One attempt: a failed delivery is a dead letter at once.
        JOB_ATTEMPTS: '1',
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    ).start();
    await eventually('the service ready', async () => (await fetch(`${service.baseUrl}/health/ready`)).status === 200);
    const send = async (id: string, type: string) => {
      const { body, headers } = signedStripeRequest(secret, { id, type });
      const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      return String(response.json!.id);
    };
    ids.deadA = await send('evt_docs_dead_a', 'invoice.paid');
    ids.deadB = await send('evt_docs_dead_b', 'invoice.payment_failed');
    // No route takes charge.*: COMPLETED with nothing delivered.
    ids.completed = await send('evt_docs_completed', 'charge.succeeded');
    await eventually('two dead letters and one completed event', async () =>
      (await Promise.all([statusOf(ids.deadA), statusOf(ids.deadB), statusOf(ids.completed)])).join() === 'DEAD_LETTER,DEAD_LETTER,COMPLETED',
    );
  }, 240_000);

  afterAll(async () => {
    await service?.kill();
    routesFile?.remove();
    await ns?.cleanup();
    await db?.drop();
  });

  /** What each documented command must answer: matched on the command (method and path); each used at least once. */
  type Expectation = { name: string; matches: RegExp; before?: () => Promise<void>; check: (output: any) => void };
  const isDeadLetter = (which: keyof typeof ids) => async () => {
    await eventually(`${which} a dead letter`, async () => (await statusOf(ids[which])) === 'DEAD_LETTER');
  };
  const expectations: Expectation[] = [
    {
      name: 'list the dead letters',
      matches: /^curl -s -H "Authorization: Bearer \$TOKEN" '[^']*\/admin\/events\?status=DEAD_LETTER[^']*'$/,
      check: (output) => expect(output.items.map((item: { id: string }) => item.id)).toEqual(expect.arrayContaining([ids.deadA, ids.deadB])),
    },
    {
      name: 'inspect one event',
      matches: /\/admin\/events\/[0-9a-f-]{36}$/,
      check: (output) => {
        expect(output).toMatchObject({ id: ids.deadA, status: 'DEAD_LETTER' });
        expect(output.deliveries[0]).toMatchObject({ destination: 'billing', succeeded: false });
      },
    },
    {
      name: 'replay one event',
      matches: /^curl -s -X POST -H "Authorization: Bearer \$TOKEN" \S+\/admin\/events\/[0-9a-f-]{36}\/replay$/,
      before: isDeadLetter('deadA'),
      check: (output) => expect(output).toEqual({ id: ids.deadA, status: 'PENDING' }),
    },
    {
      // After the one above: the event is a dead letter again in round 1.
      name: 'replay one event while in the round seen',
      matches: /-d '\{"replays":1\}' \S+\/admin\/events\/[0-9a-f-]{36}\/replay$/,
      before: isDeadLetter('deadA'),
      check: (output) => expect(output).toEqual({ id: ids.deadA, status: 'PENDING' }),
    },
    {
      name: 'replay the dead letters of a provider',
      matches: /-d '\{"status":"DEAD_LETTER","provider":"stripe"\}' \S+\/admin\/events\/replay$/,
      before: isDeadLetter('deadB'),
      check: (output) => expect(output.replayed).toBeGreaterThanOrEqual(1),
    },
    {
      name: 'replay every COMPLETED event, confirmed',
      matches: /-d '\{"status":"COMPLETED","confirm":true\}' \S+\/admin\/events\/replay$/,
      before: async () => void (await eventually('the completed event COMPLETED', async () => (await statusOf(ids.completed)) === 'COMPLETED')),
      check: (output) => expect(output.replayed).toBeGreaterThanOrEqual(1),
    },
    {
      name: 'list the destinations',
      matches: /^curl -s -H "Authorization: Bearer \$TOKEN" \S+\/admin\/destinations$/,
      check: (output) => expect(output.items.map((item: { name: string }) => item.name)).toEqual(['billing']),
    },
    {
      name: 'pause a destination',
      matches: /-X POST .*\/admin\/destinations\/billing\/pause$/,
      check: (output) => expect(output).toMatchObject({ name: 'billing', paused: true }),
    },
    {
      name: 'resume a destination',
      matches: /-X POST .*\/admin\/destinations\/billing\/resume$/,
      check: (output) => expect(output).toMatchObject({ name: 'billing', paused: false }),
    },
  ];

  it("runs the README's admin commands in order, each answering what the README says", async () => {
    const block = blocks('sh').find((text) => text.includes('Authorization: Bearer $TOKEN') && text.includes('/admin/events/replay'));
    expect(block).toBeDefined();
    const lines = shellLines(block!);
    const prelude = lines.filter((line) => !line.startsWith('curl '));
    expect(prelude).toEqual([`TOKEN=${token}`]);
    const used = new Set<string>();
    for (const command of lines.filter((line) => line.startsWith('curl '))) {
      const expectation = expectations.filter(({ matches }) => matches.test(command.replaceAll('<id>', ids.deadA)));
      expect({ command, expectations: expectation.map(({ name }) => name) }).toEqual({ command, expectations: [expect.any(String)] });
      await expectation[0]!.before?.();
      expectation[0]!.check(run(prelude, command));
      used.add(expectation[0]!.name);
    }
    // The README keeps showing each of them.
    expect([...used].sort()).toEqual(expectations.map(({ name }) => name).sort());
  }, 120_000);

  it("runs the runbooks' commands that need no kubectl", async () => {
    const commands = blocks('sh', runbooks)
      .flatMap(shellLines)
      .filter((line) => line.startsWith('curl ') && !line.includes('kubectl'));
    const runbookExpectations: Expectation[] = [
      {
        name: 'a destination state',
        matches: /\/admin\/destinations \| jq '\.items\[\] \| select\(\.name == "<destination>"\) \| \.state'$/,
        check: (output) => {
          const state = haveJq ? output : output.items.find((item: { name: string }) => item.name === 'billing').state;
          expect(state).toMatchObject({ paused: expect.any(Boolean), circuit: null });
        },
      },
      {
        name: 'resume a destination',
        matches: /-X POST .*\/admin\/destinations\/<destination>\/resume$/,
        check: (output) => expect(output).toMatchObject({ name: 'billing', paused: false }),
      },
      {
        name: 'replay the dead letters of a provider',
        matches: /-d '\{"status":"DEAD_LETTER","provider":"<provider>"\}' \S+\/admin\/events\/replay$/,
        // The README's replays sent the dead letters round again; each ends DEAD_LETTER once more.
        before: isDeadLetter('deadA'),
        check: (output) => expect(output.replayed).toBeGreaterThanOrEqual(1),
      },
    ];
    const used = new Set<string>();
    for (const command of commands) {
      const expectation = runbookExpectations.filter(({ matches }) => matches.test(command));
      expect({ command, expectations: expectation.map(({ name }) => name) }).toEqual({ command, expectations: [expect.any(String)] });
      await expectation[0]!.before?.();
      expectation[0]!.check(run([], command, { TOKEN: token }));
      used.add(expectation[0]!.name);
    }
    expect([...used].sort()).toEqual(runbookExpectations.map(({ name }) => name).sort());
  }, 120_000);
});
