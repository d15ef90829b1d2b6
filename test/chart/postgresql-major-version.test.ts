import { describe, expect, it } from '@jest/globals';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import { one, releaseName } from './helm.js';

/**
 * The bundled PostgreSQL keeps its data directory on a volume that outlives the pod, and a PostgreSQL server reads
 * only a data directory of its own major version: an upgrade that changes postgresql.image.tag from "16" to "17"
 * rolls the StatefulSet onto a server that refuses the volume ("database files are incompatible with server") and
 * crash-loops, so every pod loses its database (the ingress answers 503 or leaves the Service) while `helm upgrade`
 * reported success; the pre-upgrade migration even ran on the old server first. Moving the data between major
 * versions is a dump and a restore (or pg_upgrade), which the chart does not do: it must refuse such an upgrade, as
 * it refuses volume changes Kubernetes would reject, and say what to do.
 */

const fullname = `${releaseName}-event-integration-service`;
const liveStatefulSet = (image: string, persistent = true) =>
  liveObject('apps/v1', 'StatefulSet', `${fullname}-postgresql`, {
    spec: {
      replicas: 1,
      serviceName: `${fullname}-postgresql-headless`,
      selector: { matchLabels: {} },
      template: { spec: { containers: [{ name: 'postgresql', image }] } },
      ...(persistent
        ? {
            volumeClaimTemplates: [
              { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Gi' } }, volumeMode: 'Filesystem' } },
            ],
          }
        : {}),
    },
  });
const passwordSecret = liveObject('v1', 'Secret', `${fullname}-postgresql`, { type: 'Opaque', data: { password: Buffer.from('kept').toString('base64') } });

async function upgrade(image: string, set: string[], persistent = true) {
  return renderAgainstCluster([liveStatefulSet(image, persistent), passwordSecret], [], set);
}

describe('the bundled PostgreSQL’s major version on a running release', () => {
  it('an upgrade to another major version (16 -> 17) is refused, naming both and the way to move the data', async () => {
    const run = await upgrade('postgres:16', ['postgresql.image.tag=17']);
    expect(run.status).not.toBe(0);
    const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain('postgresql.image.tag');
    expect(errorLines[0]).toContain('PostgreSQL 16 data directory');
    expect(errorLines[0]).toContain('is PostgreSQL 17');
    expect(errorLines[0]).toContain('pg_dump');
  });

  it('so is a downgrade, and a change written as a full version (16.4 -> 17.0-bookworm)', async () => {
    expect((await upgrade('postgres:17', ['postgresql.image.tag=16'])).status).not.toBe(0);
    expect((await upgrade('postgres:16.4', ['postgresql.image.tag=17.0-bookworm'])).status).not.toBe(0);
  });

  it('the same major version (a minor update, another variant, a mirror) goes ahead', async () => {
    for (const [image, set] of [
      ['postgres:16', []],
      ['postgres:16', ['postgresql.image.tag=16.4']],
      ['postgres:16.2', ['postgresql.image.tag=16-bookworm']],
      ['postgres:16', ['postgresql.image.repository=mirror.example/library/postgres']],
    ] as [string, string[]][]) {
      const run = await upgrade(image, set);
      expect({ image, set, status: run.status, stderr: run.stderr }).toEqual({ image, set, status: 0, stderr: '' });
      expect(one(run.objects, 'StatefulSet', '-postgresql').spec.template.spec.containers[0].image).toMatch(/postgres:16/);
    }
  });

  it('without persistence (no data kept across restarts), or a tag that names no version, nothing is checked', async () => {
    expect((await upgrade('postgres:16', ['postgresql.image.tag=17', 'postgresql.persistence.enabled=false'], false)).status).toBe(0);
    expect((await upgrade('postgres:latest', ['postgresql.image.tag=17'])).status).toBe(0);
  });
});
