import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { configSchema } from '../../services/shared/config/config-schema.js';
import { loadConfig } from '../../services/shared/config/config.js';
import { runHelm, templateArgs } from './helm.js';

/**
 * A `config` value the service refuses at start (exit 78, then CrashLoopBackOff) must fail `helm install` / `template`
 * instead: values.schema.json checks each variable as services/shared/config/config-schema.ts does (ranges, decimal
 * digits, enums, lists), and the chart's templates (_config-checks.tpl) what one value cannot show, the relations
 * between variables and each role's merged config. The verdicts here are the service's own (its schema and
 * loadConfig), so the chart cannot drift from it at the boundaries.
 */

const MAX_TIMER_MS = 2_147_483_647;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A value as the chart renders it into the pod's env (eis.envValue: integral numbers without an exponent). */
type ChartValue = string | number | boolean;
const asEnv = (value: ChartValue): string => String(value);

/** Where a variable is set in the values, and the variable the pod gets. */
interface Target {
  valuesPath: [string, string];
  variable: string;
  probes: ChartValue[];
}

/** Probes of a whole-number variable: the bounds and one past them, in both forms, and what Number() would take. */
function wholeNumberProbes(min: number, max: number): ChartValue[] {
  const probes: ChartValue[] = [String(min), String(max), ` ${min} `, `00${min}`, '', '  ', '1e3', '0x10', '1.0', '-1', 'abc', '30s', true];
  if (min > 0) probes.push(String(min - 1), min - 1);
  if (max < MAX_SAFE) probes.push(String(max + 1));
  if (max <= MAX_TIMER_MS) probes.push(min, max, max + 1, 1.5);
  return probes;
}

const wholeNumbers: [string, number, number][] = [
  ['DATABASE_POOL_SIZE', 1, 500],
  ['MAX_BODY_BYTES', 1, 64 * 1_048_576],
  ['SIGNATURE_TOLERANCE_SECONDS', 1, 86_400],
  ['VERIFICATION_FAILURE_LIMIT_PER_MINUTE', 1, MAX_SAFE],
  ['DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE', 1, MAX_SAFE],
  ['ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE', 1, MAX_SAFE],
  ['JOB_ATTEMPTS', 1, 100],
  ['WORKER_CONCURRENCY', 1, 1000],
  ['RETENTION_TOMBSTONE_DAYS', 0, MAX_SAFE],
  ['JOB_BACKOFF_MS', 1, MAX_TIMER_MS],
  ['WORKER_LOCK_DURATION_MS', 1000, MAX_TIMER_MS],
  ['WORKER_STALLED_INTERVAL_MS', 1000, MAX_TIMER_MS],
  ['DELIVERY_TIMEOUT_MS', 1, MAX_TIMER_MS],
  ['RECONCILER_INTERVAL_MS', 100, MAX_TIMER_MS],
  ['RECONCILER_STALE_MS', 0, MAX_TIMER_MS],
  ['RETENTION_INTERVAL_MS', 1000, MAX_TIMER_MS],
  ['SHUTDOWN_TIMEOUT_MS', 100, MAX_TIMER_MS],
  ['STARTUP_WAIT_MS', 0, MAX_TIMER_MS],
];

const targets: Target[] = [
  ...wholeNumbers.map(([variable, min, max]): Target => ({ valuesPath: ['config', variable], variable, probes: wholeNumberProbes(min, max) })),
  { valuesPath: ['config', 'RETENTION_COMPLETED_DAYS'], variable: 'RETENTION_COMPLETED_DAYS', probes: ['0', '1', '2', '3', 0, 2, 3, '0003', '-3', '3.5'] },
  { valuesPath: ['config', 'HEALTH_MAX_HEAP_MB'], variable: 'HEALTH_MAX_HEAP_MB', probes: ['15', '16', 15, 16, '4096', '', '16MB', '1e9'] },
  { valuesPath: ['config', 'LOG_LEVEL'], variable: 'LOG_LEVEL', probes: ['debug', ' warn ', 'silly', '', 'trace', 'INFO', 'warning', 3] },
  { valuesPath: ['config', 'QUEUE_NAME'], variable: 'QUEUE_NAME', probes: ['webhook-events', 'a.b_c-1', '', 42, 'has space', 'queue:1', ' padded'] },
  { valuesPath: ['config', 'TRACE_URL_TEMPLATE'], variable: 'TRACE_URL_TEMPLATE', probes: ['https://grafana.example.com/explore?trace={traceId}', 'http://jaeger:16686/trace/{traceId}', '', 'https://grafana.example.com/explore', 'grafana/{traceId}', 'https://x/{traceId} y'] },
  { valuesPath: ['config', 'PAYPAL_CERT_HOSTS'], variable: 'PAYPAL_CERT_HOSTS', probes: ['certs.example.com', 'a.example.com,,b.example.com', '', ',,,', ' , ', ','] },
  { valuesPath: ['secrets', 'stripeWebhookSecret'], variable: 'STRIPE_WEBHOOK_SECRET', probes: ['whsec_a', 'whsec_a,,whsec_b', '', ',,,', ' , '] },
  { valuesPath: ['secrets', 'githubWebhookSecret'], variable: 'GITHUB_WEBHOOK_SECRET', probes: ['gh', ',', ' , '] },
  { valuesPath: ['secrets', 'adminApiToken'], variable: 'ADMIN_API_TOKEN', probes: ['a'.repeat(40), '', `${'a'.repeat(40)}\n`, 'two words'] },
];

/** Whether the service's schema takes the value on its own (loadConfig reads a blank value as unset first). */
function serviceTakes(variable: string, value: ChartValue): boolean {
  const env = asEnv(value);
  return configSchema.safeParse({ [variable]: env.trim() === '' ? undefined : env }).success;
}

const directory = mkdtempSync(path.join(tmpdir(), 'eis-schema-config-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Renders with one values file setting each target to its value; resolves helm's stderr and status. */
function renderWith(assignments: [Target, ChartValue][], name: string) {
  const values: Record<string, Record<string, ChartValue>> = {};
  for (const [target, value] of assignments) {
    const [section, key] = target.valuesPath;
    (values[section] ??= {})[key] = value;
  }
  const file = path.join(directory, `${name}.json`);
  writeFileSync(file, JSON.stringify(values));
  return runHelm(templateArgs([file]));
}

/** The i-th probes of every target the service takes (or refuses), so that one render checks each target once. */
function batches(taken: boolean): [Target, ChartValue][][] {
  const perTarget = targets.map((target) => target.probes.filter((probe) => serviceTakes(target.variable, probe) === taken).map((probe): [Target, ChartValue] => [target, probe]));
  const longest = Math.max(...perTarget.map((probes) => probes.length));
  return Array.from({ length: longest }, (_, index) => perTarget.flatMap((probes) => (probes[index] ? [probes[index]!] : [])));
}

const schemaPath = (target: Target) => `at '/${target.valuesPath.join('/')}'`;
const describeBatch = (batch: [Target, ChartValue][]) => batch.map(([target, value]) => `${target.variable}=${JSON.stringify(value)}`).join(' ');

describe('values.schema.json refuses each config value the service refuses at start, and only those', () => {
  it('probes values the service takes and values it refuses for every target', () => {
    for (const target of targets) {
      const verdicts = new Set(target.probes.map((probe) => serviceTakes(target.variable, probe)));
      expect({ variable: target.variable, verdicts: [...verdicts].sort() }).toEqual({ variable: target.variable, verdicts: [false, true] });
    }
  });

  it.each(batches(false).map((batch, index) => [index, describeBatch(batch), batch] as const))('refused batch %d: %s', (index, _label, batch) => {
    const run = renderWith(batch, `refused-${index}`);
    expect(run.status).not.toBe(0);
    const unreported = batch.filter(([target]) => !run.stderr.includes(schemaPath(target))).map(([target, value]) => `${target.variable}=${JSON.stringify(value)}`);
    expect(unreported).toEqual([]);
  });

  it.each(batches(true).map((batch, index) => [index, describeBatch(batch), batch] as const))('taken batch %d: %s', (index, _label, batch) => {
    const run = renderWith(batch, `taken-${index}`);
    // Only the schema's verdict is compared here; the relations between variables are checked below.
    const reported = batch.filter(([target]) => run.stderr.includes(schemaPath(target))).map(([target, value]) => `${target.variable}=${JSON.stringify(value)}`);
    expect(reported).toEqual([]);
    expect(run.stderr).not.toContain("values don't meet the specifications");
  });
});

describe('the chart refuses the config relations the service refuses at start', () => {
  /** The service's verdict for one role's env: undefined when it starts, else its one-line refusal. */
  function serviceRefusal(env: Record<string, string>, role: 'ingress' | 'worker' | 'migrations'): string | undefined {
    try {
      loadConfig(role === 'migrations' ? env : { ...env, SERVICE_ROLE: role }, { migrationsOnly: role === 'migrations' });
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  const cases: { name: string; set: string[]; refusedBy: { role: 'ingress' | 'worker' | 'migrations'; env: Record<string, string> } | undefined; message?: string }[] = [
    {
      name: '40 attempts with the default 1 s backoff (about 8,700 years before the last retry)',
      set: ['config.JOB_ATTEMPTS=40'],
      refusedBy: { role: 'ingress', env: { JOB_ATTEMPTS: '40' } },
      message: 'the ingress role (config, with ingress.config over it): JOB_ATTEMPTS=40 with JOB_BACKOFF_MS=1000 puts the last retry',
    },
    { name: '23 attempts with the default 1 s backoff (the most it takes)', set: ['config.JOB_ATTEMPTS=23'], refusedBy: undefined },
    {
      name: '24 attempts for the worker role only',
      set: ['worker.config.JOB_ATTEMPTS=24'],
      refusedBy: { role: 'worker', env: { JOB_ATTEMPTS: '24' } },
      message: 'the worker role (config, with worker.config over it): JOB_ATTEMPTS=24 with JOB_BACKOFF_MS=1000',
    },
    {
      name: '24 attempts in config, which only the migration Job keeps (both roles set 5)',
      set: ['config.JOB_ATTEMPTS=24', 'ingress.config.JOB_ATTEMPTS=5', 'worker.config.JOB_ATTEMPTS=5'],
      refusedBy: { role: 'migrations', env: { JOB_ATTEMPTS: '24' } },
      message: 'the migration Job (config): JOB_ATTEMPTS=24',
    },
    {
      name: 'the same without the migration Job',
      set: ['config.JOB_ATTEMPTS=24', 'ingress.config.JOB_ATTEMPTS=5', 'worker.config.JOB_ATTEMPTS=5', 'migrations.enabled=false'],
      refusedBy: undefined,
    },
    {
      name: '3 attempts with a backoff of 2^30 ms (2^31 before the last retry)',
      set: ['config.JOB_ATTEMPTS=3', 'config.JOB_BACKOFF_MS=1073741824'],
      refusedBy: { role: 'worker', env: { JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '1073741824' } },
      message: 'At most 2 attempts with this backoff',
    },
    { name: '3 attempts with a backoff of 2^30 − 1 ms', set: ['config.JOB_ATTEMPTS=3', 'config.JOB_BACKOFF_MS=1073741823'], refusedBy: undefined },
    {
      name: 'a worker pool of 2',
      set: ['worker.config.DATABASE_POOL_SIZE=2'],
      refusedBy: { role: 'worker', env: { DATABASE_POOL_SIZE: '2' } },
      message: 'the worker role (config, with worker.config over it): DATABASE_POOL_SIZE=2, the worker needs at least 3',
    },
    { name: 'an ingress pool of 1 (the ingress takes any size)', set: ['config.DATABASE_POOL_SIZE=1', 'worker.config.DATABASE_POOL_SIZE=3'], refusedBy: undefined },
  ];

  it.each(cases.map((entry) => [entry.name, entry] as const))('%s', (_name, entry) => {
    if (entry.refusedBy) {
      // The service refuses it as well: the chart is not stricter than the service.
      expect(serviceRefusal(entry.refusedBy.env, entry.refusedBy.role)).toMatch(/^Invalid configuration: (JOB_ATTEMPTS|DATABASE_POOL_SIZE): /);
    }
    const run = runHelm(templateArgs([], entry.set));
    if (entry.refusedBy) {
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(entry.message);
    } else {
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    }
  });

  it('the cases the chart renders, the service starts with', () => {
    expect(serviceRefusal({ JOB_ATTEMPTS: '23' }, 'worker')).toBeUndefined();
    expect(serviceRefusal({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '1073741823' }, 'worker')).toBeUndefined();
    expect(serviceRefusal({ DATABASE_POOL_SIZE: '1' }, 'ingress')).toBeUndefined();
    expect(serviceRefusal({ JOB_ATTEMPTS: '5' }, 'migrations')).toBeUndefined();
  });
});
