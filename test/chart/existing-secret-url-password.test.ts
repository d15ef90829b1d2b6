import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../services/shared/config/config.js';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import type { K8sObject } from './helm.js';

/**
 * The pods get their datastore passwords through Kubernetes' $(VAR) expansion, raw, inside a URL:
 * `DATABASE_URL=postgresql://<user>:$(DATABASE_PASSWORD)@…` and `REDIS_URL=redis://:$(REDIS_PASSWORD)@…`. A password
 * the chart stores itself must be URL-safe (the schema checks postgresql.auth.password, externalDatabase.password,
 * externalRedis.password), but one in a Secret the values name (externalDatabase.existingSecret,
 * externalRedis.existingSecret, postgresql.auth.existingSecret, redis.auth.existingSecret) was taken as it is. A
 * managed database's generated password often holds `/`, `#`, `?` or `%` (AWS Secrets Manager's do): with `/`, `#` or
 * `?` the URL does not parse and every pod exits 78 ("Invalid configuration: DATABASE_URL: not a valid URL"), a
 * crash loop after an install Helm reported successful; with `%41` the service connects with another password than
 * the Secret's (URLs are percent-decoded: `%41` is `A`), waits out STARTUP_WAIT_MS and exits 1. The chart can read
 * such a Secret when it installs or upgrades (lookup): it must refuse the password then, naming the value, the Secret
 * and the key, rather than roll out pods that cannot start.
 */

const secret = (name: string, data: Record<string, string>) =>
  liveObject('v1', 'Secret', name, { type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });

/** What the service makes of a DATABASE_URL carrying `password` as the kubelet expands it: its password, or its refusal. */
function serviceReading(password: string): string {
  try {
    const config = loadConfig({ SERVICE_ROLE: 'ingress', DATABASE_URL: `postgresql://webhooks:${password}@db.example:5432/webhooks` });
    return decodeURIComponent(new URL(config.database.url).password);
  } catch (error) {
    return `refused: ${(error as Error).message.split('\n')[0]}`;
  }
}

async function install(objects: K8sObject[], valueFiles: string[], set: string[] = []) {
  return renderAgainstCluster(objects, valueFiles, set);
}

describe('a datastore password read from an existing Secret', () => {
  it('the service cannot use one holding / # ? or a %XX sequence as it is (the reason for the check below)', () => {
    expect(serviceReading('Ab9/xY+z=')).toMatch(/^refused: Invalid configuration: DATABASE_URL/);
    expect(serviceReading('Ab9#xY')).toMatch(/^refused: Invalid configuration: DATABASE_URL/);
    expect(serviceReading('Ab9?xY')).toMatch(/^refused: Invalid configuration: DATABASE_URL/);
    expect(serviceReading('Ab9%41xY')).toBe('Ab9AxY');
    expect(serviceReading("Ab9!$&'()*+,;=:@x")).toBe("Ab9!$&'()*+,;=:@x");
  });

  it.each([
    ['externalDatabase.existingSecret', 'webhooks-db', 'db-password', 'Ab9/xY+z='],
    ['externalDatabase.existingSecret', 'webhooks-db', 'db-password', 'Ab9#xY'],
    ['externalRedis.existingSecret', 'webhooks-redis', 'auth-token', 'tok?en'],
  ])('%s: a password with / # or ? fails the install naming the value, Secret and key', async (key, name, dataKey, password) => {
    const other = name === 'webhooks-db' ? secret('webhooks-redis', { 'auth-token': 'fine-token' }) : secret('webhooks-db', { 'db-password': 'fine-password' });
    const run = await install([secret(name, { [dataKey]: password }), other], ['external-services.yaml']);
    expect(run.status).not.toBe(0);
    const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(key);
    expect(errorLines[0]).toContain(`Secret ${name}`);
    expect(errorLines[0]).toContain(`key ${dataKey}`);
    expect(errorLines[0]).not.toContain(password);
  });

  it('an external password stored percent-encoded (as the service documents) or URL-safe installs', async () => {
    const run = await install([secret('webhooks-db', { 'db-password': 'Ab9%2FxY%2Bz%3D' }), secret('webhooks-redis', { 'auth-token': "tok!$&'()*+,;=:en" })], ['external-services.yaml']);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('a bundled PostgreSQL or Redis password from an existing Secret may hold no % either: the server takes it raw, the service decodes it', async () => {
    const pg = await install([secret('pg-auth', { password: 'Ab9%41xY' })], [], ['postgresql.auth.existingSecret=pg-auth']);
    expect(pg.status).not.toBe(0);
    expect(pg.stderr).toContain('postgresql.auth.existingSecret');
    const redis = await install([secret('redis-auth', { 'redis-password': 'a/b' })], [], ['redis.auth.existingSecret=redis-auth']);
    expect(redis.status).not.toBe(0);
    expect(redis.stderr).toContain('redis.auth.existingSecret');
    const fine = await install([secret('pg-auth', { password: 'Ab9-xY_z.1' }), secret('redis-auth', { 'redis-password': 'r3d1s~pw' })], [], [
      'postgresql.auth.existingSecret=pg-auth',
      'redis.auth.existingSecret=redis-auth',
    ]);
    expect({ status: fine.status, stderr: fine.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('a Secret the chart cannot see yet (helm template, or created after the release) is not checked', async () => {
    const run = await install([], ['external-services.yaml']);
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
