import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../services/shared/config/config.js';
import { parseManifests, runHelm, templateArgs } from './helm.js';

/**
 * TRUST_PROXY, HOST and PAYPAL_CERT_HOSTS, and the blanks the service trims (JavaScript's trim() and `\s`, which take
 * U+00A0, U+FEFF, U+2028 and more, where a JSON-schema `\s` takes ASCII only): each row is fed to the service's own
 * config parser (loadConfig, as the pod would run it) and to `helm template`, and both must give the same verdict.
 * A value the chart takes the service must start with; a value the service refuses (exit 78, then CrashLoopBackOff
 * after the rollout) must fail the install with a message naming the values key.
 */

type Value = string | number | boolean;

interface Row {
  /** Where the value is set: `config.X`, `<role>.config.X`, `ingress.trustProxy` or `secrets.x`. */
  key: string;
  value: Value;
  /** The variable the pod gets it as. */
  variable: string;
  /** Extra values (e.g. another key it must win over). */
  with?: Record<string, unknown>;
}

const config = (variable: string, values: Value[]): Row[] => values.map((value) => ({ key: `config.${variable}`, value, variable }));

const trustProxyValues: Value[] = [
  'true', 'false', '0', '1', '10', '4294967296', 'TRUE', ' true', '1 ', ' 1 ', '1,2', '1, 2', '1e3', '-1', 'abc',
  'loopback', 'linklocal, uniquelocal', 'loopback,10.0.0.0/8', 'Loopback', 'loopback/8', 'constructor',
  '10.0.0.1', '10.0.0.0/8', '10.0.0.0/32', '10.0.0.0/0', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/0032', '10.0.0.0/',
  '/8', '10.0.0.0/8/8', '10.0.0.0 /8', '10.0.0.0/ 8', '10.0.0.0/8 ',
  '10.0.0.0/255.255.255.0', '10.0.0.0/255.0.0.0', '10.0.0.0/255.255.0.255', '10.0.0.0/0.0.0.0', '10.0.0.0/255.255.255.255', '10.0.0.0/0xffffff00',
  '10.0.0.0/037777777400', '10.0.0.0/0x18', '10.0.0.0/4294967040', '10.0.0.0/::ffff', '10.0.0.0/1.2', '::1/255.255.255.0',
  '0x0a.0.0.1', '0X0a.0.0.1', '010.0.0.1', '09.0.0.1', '019.0.0.1', '0x100.0.0.1', '256.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3',
  '0xffffffff', '0x100000000', '037777777777', '040000000000', '0x', '1.2.3.4,0xABCDEF', '99999999999.1.2.3',
  '::1', '::', '::1/128', '::1/129', '::/0', 'fe80::/10', 'fe80::1%eth0', 'fe80::1%eth0/64', 'fe80::1%', 'fe80::1%eth-0', '1::%eth0',
  '::ffff:10.0.0.1', '::ffff:10.0.0.1/24', '::ffff:10.0.0.1/120', '::ffff:10.0.0.1/129', '::1.2.3.4', '::ffff:0x0a.1.2.3', '::ffff:010.1.2.3',
  '::ffff:256.1.2.3', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3',
  ':::1', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '::1:2:3:4:5:6:7:8', '12345::1', '0001::1', '1:2::3:4:5:6:7:8', '[::1]', 'g::1',
  '10.0.0.1,', ',10.0.0.1', '10.0.0.1,,10.0.0.2', ' , ', ',',
  // Blanks around entries are trimmed as trim() trims them; U+0085 is not among them.
  '10.0.0.1\u00a0', '\ufeff10.0.0.1, \u202f10.0.0.2', '10.0.0.0/24\u2028', '\u300010.0.0.1', '10.0.0.1\u0085', '10.0.0.1,\u00a0', '\v10.0.0.1',
  // Blank: unset.
  '', ' ', '\u00a0', '\u2028\ufeff',
  // Numbers and booleans in the values file.
  2, true, 1.5,
];

const hostValues: Value[] = [
  '0.0.0.0', '::', '127.0.0.1', '::1', 'fe80::1%eth0', 'fe80::1%', '::ffff:1.2.3.4', '1.2.3.04', '1:2:3:4:5:6:7:8', '1::2::3',
  'localhost', 'my-host.svc.cluster.local', 'my_host', 'host.', 'a..b', '.', '-a', 'a-', 'a-b', 'a.b-.c', 'a'.repeat(63), 'a'.repeat(64),
  `${'a'.repeat(61)}.`.repeat(4).slice(0, 253), `${`${'a'.repeat(61)}.`.repeat(4).slice(0, 253)}.`, `${'a'.repeat(61)}.`.repeat(4).slice(0, 254),
  '10.0.0.256', '1.2.3', 'example.123', 'example.1a', '123', 'http://x', 'http://0.0.0.0', 'x:80', 'x/y', 'bücher.de', 'TRUE',
  ' x', 'x ', 'x\u00a0', '', '  ', '\u00a0', '\ufeff\u2028', true, 8080, 1.5,
];

const certHostValues: Value[] = [
  'certs.example.com', 'certs.example.com:443', 'localhost:8443', '*.example.com', '*.example.com:8443', 'EXAMPLE.COM', '*', 'a*b.com', '*.*.example.com',
  'https://x', 'x/y', 'x?y', 'x#y', 'u@x', 'x\\y', 'x:', 'x:0', 'x:00', 'x:1', 'x:65535', 'x:65536', 'x:0443', 'x:0000000000000443', 'x:44a', 'x:-1', 'x: 443',
  ':443', '*.', '*.:443', '*.10.0.0.1', '*.1.2', '10.0.0.1', '10.0.0.1:8443', '10.0.0.256', '1.2.3', '1.2.3.0x10', '0x7f.1', '4294967295', '4294967296', '1.2.3.4.5',
  'example.09', 'example.1', 'example.0x', 'example.0xg', 'example.1.', '1..2', 'a..b', '.', 'a.', '1.2.3.4.',
  '[::1]', '[::1]:8443', '*.[::1]', '[::1', '[::1]x', '[fe80::1%25eth0]', '[1:2:3:4:5:6:7:8:9]', '[::1.2.3.4]', '[::1.2.3.04]', '[1::2::3]', 'a[b', 'a]b',
  'a b', 'x :443', 'a<b', 'a^b', 'a|b', 'a%b', 'a%zz', 'a%41b', 'a%25b', 'a%2541', 'a%2Fb', 'a%2fb:443', 'example.%31', 'example%2E1', '%31.2.3.4', '*.%31.2.3.4', 'a%C3%BCb', '%C3%BC%2F.de', 'xn--a.example', 'xn--', 'xn--bcher-kva.de', 'ex\tample.com', 'x:4\t43', 'x\u0001', 'x:\u0001', 'a\u007fb', 'a_b-c.example',
  'a.example.com,b.example.com:8443', 'a.example.com, x:0', 'a.example.com,,b.example.com', ',,,', ' , ', ',',
  // Blanks around entries and between commas, as trim() sees them.
  'certs.example.com\u00a0', '\ufeffcerts.example.com, \u2028b.example.com', '\u00a0,\u2028', '\u00a0', 'certs.example.com\u0085',
  'bücher.de', '*.bücher.de:8443',
  // An `xn--` label is Punycode, ASCII by definition: one holding a letter past ASCII is refused (a host past ASCII
  // goes through IDNA, which decodes every xn-- label); ASCII ones are taken as they are, Punycode unchecked.
  'xn--ñ.de', 'XN--ñ.de', 'Xn--bücher.de', '*.xn--ñ.de:8443', 'a.xn--ü', 'xn--ü-.de', 'xn--é', 'xn--bcher-kva.de.xn--ñ', 'xn--bcher-kva\u3002ñ.de',
  'xn--bcher-kva.de, xn--münchen.de', 'xn-ñ.de', 'ab--ñ.de', 'xnñ--.de', 'xn--zca.de', 'XN--BCHER-KVA.DE', 'xn--a.example',
  // A host past ASCII goes through IDNA (UTS #46) as a whole: fullwidth forms map to ASCII, invisible (ignored) code
  // points drop out, and every xn-- label's Punycode is decoded and checked (an ASCII host's is not). The service
  // takes Unicode, fullwidth and invisible characters that map to a good host, so the chart must too.
  'ｅｘａｍｐｌｅ.com', 'ＥＸＡＭＰＬＥ．ｃｏｍ', 'ex\u00adample.com', 'ex\u200bample.com', 'ex\u2060ample.com', '\ufeffex\ufe0fample.com', 'Ⅻ.com', 'münchen.de',
  'é.xn--mnchen-3ya.de', 'é.XN--9CA', 'ａ\u00ad.xn--9ca:8443', '*.ｅｘａｍｐｌｅ.com', 'ｅｘａｍｐｌｅ.１', 'ex\u200dample.com', 'ex\u200cample.com',
  'é.xn--a', 'é.xn--', 'é.xn--abc-', 'é.xn--9ca-', 'é.xn--zz', 'é.xn--99999999999', 'é.xn--ssa', 'é.xn--d-jfa', 'é.ｘｎ--a', 'ｘｎ--ñ.de', 'ｘｎ--a.com',
  'x\u00adn--ñ.de', 'x\u200bn--a.com', 'xn--a\u200b.com', 'a\u00ad.xn--a', 'é.xn--a.de, b.com', '*.xn--9ca.ｅｘａｍｐｌｅ:8443',
  '\uff21\uff0fb', 'a\uff03b', 'a\uff05b', 'a\uff1a443', 'example.\uff11', '*.1\u00ad.2.3.4', '*.１.２.３.４', '１.２.３.４:8443', '１.２.３.２５６',
  'xn--9c%EF%BD%81.%C3%A9', 'é.xn--w7a', 'Ⅻ.xn--a',
];

/** Values the chart leaves to the pods (see eis.certHostProblem): the service refuses them, the chart takes them. */
// Beyond what the chart maps (fullwidth ASCII, ignored code points, A-Z) and the code points it knows to be invalid in
// a decoded xn-- label: a %-escaped character past ASCII, `ⅹ` (mapped to x), U+0378 (unassigned) decoded from Punycode.
const certHostsLeftToThePods: string[] = ['%EF%BC%8Fb', 'ⅹn--ñ.de', 'é.xn--9ca42k'];

const numberLike: Row[] = [
  ...config('DATABASE_POOL_SIZE', ['5', ' 5 ', '\u00a05', '5\ufeff', '\u20285\u2029', '5\u0085', '\v5', '\u00a0', '\u3000']),
  ...config('JOB_BACKOFF_MS', ['\u202f1000\u205f', '1000\u180e']),
  ...config('LOG_LEVEL', ['\u00a0debug', 'warn\u2028', 'info\u0085', '\ufeff']),
  ...config('QUEUE_NAME', ['\u00a0', '\u00a0q', 'q']),
  ...config('TRACE_URL_TEMPLATE', ['https://x/{traceId}', '\u00a0', 'https://x/{traceId}\u00a0', 'https://x/\u2028{traceId}', 'https://x/\u0085{traceId}']),
];

const secrets: Row[] = [
  ...['whsec_a', 'whsec_a,\u00a0,whsec_b', '\u00a0,\u2028', '\ufeff', ',\u3000,'].map((value) => ({ key: 'secrets.stripeWebhookSecret', value, variable: 'STRIPE_WEBHOOK_SECRET' })),
  ...['gh', '\u2028,'].map((value) => ({ key: 'secrets.githubWebhookSecret', value, variable: 'GITHUB_WEBHOOK_SECRET' })),
  ...['a'.repeat(40), '\u00a0', `${'a'.repeat(40)}\u00a0`, `${'a'.repeat(20)}\u2028${'a'.repeat(20)}`, `${'a'.repeat(40)}\u0085`].map((value) => ({ key: 'secrets.adminApiToken', value, variable: 'ADMIN_API_TOKEN' })),
  // Printable ASCII only: no header carries another character as written (config-schema.ts, headerToken).
  ...[`${'a'.repeat(20)}é${'a'.repeat(20)}`, `${'a'.repeat(40)}€`, `${'a'.repeat(20)}\u0001${'a'.repeat(20)}`, `${'a'.repeat(20)}\u007f`, `!~${'a'.repeat(38)}`].map((value) => ({ key: 'secrets.adminApiToken', value, variable: 'ADMIN_API_TOKEN' })),
  ...['tok', 'tok\u00a0en', '\ufefftoken', 'tök', 'tok\u0001en', 'tok!~en'].map((value) => ({ key: 'secrets.preStopToken', value, variable: 'PRESTOP_TOKEN' })),
];

const rows: Row[] = [
  ...config('TRUST_PROXY', trustProxyValues),
  ...['1', '10.0.0.0/8, loopback', '10.0.0.0/33', 'uniquelocal,', 'loopbak', '\u00a010.0.0.1'].flatMap((value): Row[] => [
    { key: 'ingress.trustProxy', value, variable: 'TRUST_PROXY' },
    { key: 'ingress.config.TRUST_PROXY', value, variable: 'TRUST_PROXY' },
    { key: 'worker.config.TRUST_PROXY', value, variable: 'TRUST_PROXY' },
  ]),
  // A role's own config wins over `config`, which the migration Job still runs with.
  { key: 'ingress.config.TRUST_PROXY', value: 'nonsense', variable: 'TRUST_PROXY', with: { config: { TRUST_PROXY: '1' } } },
  { key: 'ingress.trustProxy', value: '10.0.0.0/8', variable: 'TRUST_PROXY', with: { ingress: { publicIngress: { enabled: true } } } },
  ...config('HOST', hostValues),
  { key: 'worker.config.HOST', value: 'http://worker', variable: 'HOST' },
  ...config('PAYPAL_CERT_HOSTS', certHostValues),
  { key: 'ingress.config.PAYPAL_CERT_HOSTS', value: 'https://certs.example.com', variable: 'PAYPAL_CERT_HOSTS' },
  ...numberLike,
  ...secrets,
];

/** The env value the pod gets for a values-file value (eis.envValue, and ingress.trustProxy printed as is). */
const asEnv = (value: Value): string => String(value);

/** The service's verdict: undefined when it starts, else its one-line refusal. */
function serviceRefusal(row: Row): string | undefined {
  try {
    loadConfig({ [row.variable]: asEnv(row.value) });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** JSON with every character outside printable ASCII escaped, so that rows differing in an invisible blank read apart. */
const visible = (value: unknown) => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const directory = mkdtempSync(path.join(tmpdir(), 'eis-config-agreement-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;

/** `helm template` with the row's value set at its key (through a values file: no --set parsing of commas). */
function render(row: Row) {
  const values: Record<string, any> = structuredClone(row.with ?? {});
  const at = row.key.split('.');
  let node = values;
  for (const part of at.slice(0, -1)) node = node[part] ??= {};
  node[at.at(-1)!] = row.value;
  const file = path.join(directory, `values-${(files += 1)}.json`);
  // Escaped: YAML (which helm reads the file as) folds a raw U+0085 or U+2028 in a quoted string as a line break.
  writeFileSync(file, visible(values));
  return runHelm(templateArgs([file]));
}

/** The value of `variable` in the env of the role the key feeds (the ingress, but for `worker.config`). */
function renderedEnv(stdout: string, row: Row): string | undefined {
  const role = row.key.startsWith('worker.') ? 'worker' : 'ingress';
  const deployment = parseManifests(stdout).find((object) => object.kind === 'Deployment' && object.metadata.name.endsWith(`-${role}`));
  const env: { name: string; value?: string }[] = deployment?.spec.template.spec.containers[0].env ?? [];
  return env.find((entry) => entry.name === row.variable)?.value;
}

const label = (row: Row) => `${row.key}=${visible(row.value)}${row.with ? ` with ${visible(row.with)}` : ''}`;

describe('helm template and the service agree on each value (TRUST_PROXY, HOST, PAYPAL_CERT_HOSTS, blanks)', () => {
  it('the table holds values the service takes and values it refuses for each variable', () => {
    const verdicts = new Map<string, Set<boolean>>();
    for (const row of rows) {
      if (!verdicts.has(row.variable)) verdicts.set(row.variable, new Set());
      verdicts.get(row.variable)!.add(serviceRefusal(row) === undefined);
    }
    for (const [variable, seen] of verdicts) expect({ variable, verdicts: [...seen].sort() }).toEqual({ variable, verdicts: [false, true] });
  });

  it.each(rows.map((row) => [label(row), row] as const))('%s', (_label, row) => {
    const refusal = serviceRefusal(row);
    const run = render(row);
    if (refusal === undefined) {
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      // The pod gets the very string the service was given (secrets go through a Secret: not compared here).
      if (!row.key.startsWith('secrets.') && !row.with && asEnv(row.value).trim() !== '') expect(renderedEnv(run.stdout, row)).toBe(asEnv(row.value));
    } else {
      expect(run.status).not.toBe(0);
      // Named as the schema names it (at '/config/X') or as the chart's checks do (config.X="...").
      const schemaPath = `at '/${row.key.split('.').join('/')}'`;
      expect([run.stderr.includes(schemaPath), run.stderr.includes(`${row.key}=`)]).toContain(true);
    }
  });

  it.each(certHostsLeftToThePods.map((value) => [visible(value), value]))('PAYPAL_CERT_HOSTS=%s: refused by the service, left to the pods by the chart (IDNA, %%XX)', (_label, value) => {
    expect(serviceRefusal({ key: 'config.PAYPAL_CERT_HOSTS', value, variable: 'PAYPAL_CERT_HOSTS' })).toMatch(/^Invalid configuration: PAYPAL_CERT_HOSTS: /);
    const run = render({ key: 'config.PAYPAL_CERT_HOSTS', value, variable: 'PAYPAL_CERT_HOSTS' });
    expect(run.stderr).toBe('');
  });

  it('names the value, the key and the problem', () => {
    const run = render({ key: 'ingress.trustProxy', value: '10.0.0.0/33', variable: 'TRUST_PROXY' });
    expect(run.stderr).toContain('ingress.trustProxy="10.0.0.0/33": invalid range on address: 10.0.0.0/33');
    const host = render({ key: 'worker.config.HOST', value: 'http://worker', variable: 'HOST' });
    expect(host.stderr).toContain('worker.config.HOST="http://worker": must be an IP address');
    const certs = render({ key: 'config.PAYPAL_CERT_HOSTS', value: 'a.example.com, x:0', variable: 'PAYPAL_CERT_HOSTS' });
    expect(certs.stderr).toContain(`config.PAYPAL_CERT_HOSTS="a.example.com, x:0": entry 'x:0' is not host[:port] (port must be 1-65535`);
  });
});

describe('the chart reads a whole number it lets through as the service reads it', () => {
  /** What the pods' specs take from SHUTDOWN_TIMEOUT_MS and STARTUP_WAIT_MS: grace periods and startup probes. */
  function timings(value: string) {
    const run = render({ key: 'config.SHUTDOWN_TIMEOUT_MS', value, variable: 'SHUTDOWN_TIMEOUT_MS', with: { config: { STARTUP_WAIT_MS: value } } });
    expect(run.stderr).toBe('');
    return parseManifests(run.stdout)
      .filter((object) => object.kind === 'Deployment' && /-(ingress|worker)$/.test(object.metadata.name))
      .map((object) => ({ name: object.metadata.name, grace: object.spec.template.spec.terminationGracePeriodSeconds, startup: object.spec.template.spec.containers[0].startupProbe }));
  }

  it.each([[' 30000 '], ['030000'], ['\u00a030000\ufeff'], ['\u202f30000\u2028']].map(([value]) => [visible(value), value!]))('%s is 30000 ms, as for the service', (_label, value) => {
    const service = loadConfig({ SHUTDOWN_TIMEOUT_MS: value, STARTUP_WAIT_MS: value });
    expect([service.shutdownTimeoutMs, service.startupWaitMs]).toEqual([30_000, 30_000]);
    expect(timings(value)).toEqual(timings('30000'));
  });

  it.each([
    ['JOB_ATTEMPTS \\ufeff40 (the last retry 2^38 s after the one before)', 'config.JOB_ATTEMPTS', 'JOB_ATTEMPTS', '\ufeff40', 'JOB_ATTEMPTS=40 with JOB_BACKOFF_MS=1000'],
    ['a worker pool of \\ufeff2', 'worker.config.DATABASE_POOL_SIZE', 'DATABASE_POOL_SIZE', '\ufeff2', 'DATABASE_POOL_SIZE=2, the worker needs at least 3'],
  ])('%s is refused by both', (_name, key, variable, value, message) => {
    expect(serviceRefusal({ key, value, variable })).toMatch(new RegExp(`^Invalid configuration: ${variable}: `));
    const run = render({ key, value, variable });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(message);
  });
});

describe('the KEDA trigger measures the queue the service uses', () => {
  /** The trigger's list (redis) or query (prometheus) rendered with these `config` values. */
  function trigger(valuesFile: string, config: Record<string, Value>) {
    const file = path.join(directory, `values-${(files += 1)}.json`);
    writeFileSync(file, visible({ config }));
    const run = runHelm(templateArgs([valuesFile, file]));
    expect(run.stderr).toBe('');
    const scaledObject = parseManifests(run.stdout).find((object) => object.kind === 'ScaledObject')!;
    return scaledObject.spec.triggers[0].metadata as { listName?: string; query?: string };
  }

  const configs: Record<string, Value>[] = [
    { QUEUE_NAME: ' ', QUEUE_PREFIX: 'tenant-1' },
    { QUEUE_NAME: '\u00a0', QUEUE_PREFIX: '\u3000' },
    { QUEUE_NAME: 42, QUEUE_PREFIX: 'tenant-1' },
    { QUEUE_NAME: 'events.v2', QUEUE_PREFIX: ' ' },
  ];

  it.each(configs.map((config) => [visible(config), config] as const))('config %s', (_label, config) => {
    const service = loadConfig(Object.fromEntries(Object.entries(config).map(([name, value]) => [name, asEnv(value)])));
    expect(trigger('keda-redis.yaml', config).listName).toBe(`${service.queue.prefix}:${service.queue.name}:wait`);
    expect(trigger('keda-prometheus.yaml', config).query).toContain(`queue="${service.queue.name}"`);
  });
});
