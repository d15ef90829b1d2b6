import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import { find, one, releaseName, renderChart, type K8sObject } from './helm.js';

/**
 * The PostgreSQL and Redis passwords reach the pods as secretKeyRefs, which a pod reads only when it starts. A
 * password changed in values (externalDatabase.password, externalRedis.password, postgresql.auth.password,
 * redis.auth.password) rewrote its Secret and nothing else: no pod rolled, the running ones kept the old password,
 * and every pod started later (a reschedule, a scale-up) took the new one, so the release ran with two passwords;
 * the bundled Redis itself kept the old one until it happened to restart, and app pods started meanwhile could not
 * log in. Each pod that reads one of these Secrets must roll when it changes, and only then.
 */

const fullname = `${releaseName}-event-integration-service`;
// Fixed tokens, so that nothing but the password under test differs between two renders.
const fixed = ['secrets.adminApiToken=admin', 'secrets.preStopToken=prestop', 'postgresql.auth.password=pg', 'redis.auth.password=redis'];
const external = ['postgresql.enabled=false', 'externalDatabase.host=db.example', 'redis.enabled=false', 'externalRedis.host=redis.example'];

const appChecksums = (objects: K8sObject[]) =>
  find(objects, 'Deployment').map((d) => d.spec.template.metadata.annotations?.['checksum/datastore-secrets'] as string | undefined);
const redisChecksum = (objects: K8sObject[]) =>
  one(objects, 'StatefulSet', '-redis').spec.template.metadata.annotations?.['checksum/password'] as string | undefined;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The one checksum both Deployments carry (it must be the same on both). */
function appChecksum(set: string[]): string {
  const checksums = appChecksums(renderChart([], [...fixed, ...set]));
  expect(checksums).toHaveLength(2);
  expect(checksums[0]).toMatch(/^[a-f0-9]{64}$/);
  expect(checksums[1]).toBe(checksums[0]);
  return checksums[0]!;
}

describe('checksum/datastore-secrets: pods roll when a database or Redis password the chart stores changes', () => {
  it('external PostgreSQL: externalDatabase.password', () => {
    const before = appChecksum([...external, 'externalDatabase.password=old']);
    expect(appChecksum([...external, 'externalDatabase.password=old'])).toBe(before);
    expect(appChecksum([...external, 'externalDatabase.password=new'])).not.toBe(before);
  });

  it('external Redis: externalRedis.password', () => {
    const before = appChecksum([...external, 'externalRedis.password=old']);
    expect(appChecksum([...external, 'externalRedis.password=old'])).toBe(before);
    expect(appChecksum([...external, 'externalRedis.password=new'])).not.toBe(before);
  });

  it('bundled PostgreSQL: postgresql.auth.password', () => {
    const before = appChecksum([]);
    expect(appChecksum(['postgresql.auth.password=other'])).not.toBe(before);
  });

  it('bundled Redis: redis.auth.password rolls the app pods and Redis itself, which reads it only at start', () => {
    const before = renderChart([], fixed);
    const after = renderChart([], [...fixed, 'redis.auth.password=other']);
    expect(appChecksums(after)[0]).not.toBe(appChecksums(before)[0]);
    // Redis's checksum is the password its Secret holds.
    for (const objects of [before, after]) {
      const secret = one(objects, 'Secret', '-redis');
      expect(redisChecksum(objects)).toBe(sha256(Buffer.from(secret.data!['redis-password']!, 'base64').toString('utf8')));
    }
    expect(redisChecksum(after)).not.toBe(redisChecksum(before));
  });

  it('leaves the pods alone when only a Secret of yours is named (the chart cannot see into it)', () => {
    const mine = ['externalDatabase.existingSecret=db', 'externalRedis.existingSecret=redis'];
    expect(appChecksum([...external, ...mine, 'externalDatabase.password=a', 'externalRedis.password=a'])).toBe(
      appChecksum([...external, ...mine, 'externalDatabase.password=b', 'externalRedis.password=b']),
    );
    const withoutAuth = renderChart([], [...fixed, 'redis.auth.enabled=false']);
    expect(redisChecksum(withoutAuth)).toBeUndefined();
  });

  it('is the same on the install and a no-op upgrade with generated passwords (read back from their Secrets)', async () => {
    const install = await renderAgainstCluster([], [], ['secrets.adminApiToken=admin', 'secrets.preStopToken=prestop']);
    expect(install.status).toBe(0);
    const pgSecret = one(install.objects, 'Secret', '-postgresql');
    const redisSecret = one(install.objects, 'Secret', '-redis');
    const upgrade = await renderAgainstCluster(
      [
        liveObject('v1', 'Secret', `${fullname}-postgresql`, { type: 'Opaque', data: pgSecret.data }),
        liveObject('v1', 'Secret', `${fullname}-redis`, { type: 'Opaque', data: redisSecret.data }),
      ],
      [],
      ['secrets.adminApiToken=admin', 'secrets.preStopToken=prestop'],
      ['--is-upgrade'],
    );
    expect(upgrade.status).toBe(0);
    expect(new Set(appChecksums(install.objects)).size).toBe(1);
    expect(appChecksums(upgrade.objects)).toEqual(appChecksums(install.objects));
    expect(redisChecksum(upgrade.objects)).toBe(redisChecksum(install.objects));
    expect(redisChecksum(install.objects)).toBe(sha256(Buffer.from(redisSecret.data!['redis-password']!, 'base64').toString('utf8')));
  });
});
