import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { chartDir, one, podSpecOf, readText, renderChart, runHelm, templateArgs, type K8sObject } from './helm.js';

/**
 * A database behind a private CA needs its certificate in the pods that connect: the ingress, the workers and the
 * migration Job (which connects first, before any pod). `extraVolumes` / `extraVolumeMounts` (Bitnami's names) reach
 * all three; `<role>.extraVolumes` / `<role>.extraVolumeMounts` one role. The chart README's example is rendered
 * here exactly as written.
 */

const directory = mkdtempSync(path.join(tmpdir(), 'eis-extra-volumes-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** The YAML block under the README's "Mounting a database CA certificate" heading. */
function readmeExample(): string {
  const readme = readText(path.join(chartDir, 'README.md'));
  const at = readme.indexOf('### Mounting a database CA certificate');
  expect(at).toBeGreaterThan(0);
  const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block).not.toBeNull();
  const file = path.join(directory, 'readme-example.yaml');
  writeFileSync(file, block![1]!);
  return file;
}

const workloads = (objects: K8sObject[]) => [one(objects, 'Deployment', '-ingress'), one(objects, 'Deployment', '-worker'), one(objects, 'Job', '-migrate')];
const container = (workload: K8sObject) => podSpecOf(workload).containers[0];
const env = (workload: K8sObject, name: string) => container(workload).env.find((e: { name: string }) => e.name === name)?.value as string | undefined;

describe('extraVolumes / extraVolumeMounts', () => {
  it('the README example mounts the CA Secret in the ingress, worker and migration pods, and DATABASE_URL reads it', () => {
    const objects = renderChart([readmeExample()]);
    for (const workload of workloads(objects)) {
      const spec = podSpecOf(workload);
      const volume = spec.volumes.find((v: any) => v.secret?.secretName === 'db-ca');
      expect({ kind: workload.kind, volume: volume?.name }).toEqual({ kind: workload.kind, volume: 'db-ca' });
      const mount = container(workload).volumeMounts.find((m: any) => m.name === 'db-ca');
      expect(mount).toMatchObject({ mountPath: '/etc/eis/db-ca', readOnly: true });
      // Every mount names a volume of its pod.
      for (const m of container(workload).volumeMounts) expect(spec.volumes.map((v: any) => v.name)).toContain(m.name);
      expect(env(workload, 'DATABASE_URL')).toContain('sslrootcert=/etc/eis/db-ca/ca.crt');
    }
  });

  it('the README example passes helm lint', () => {
    const run = runHelm(['lint', chartDir, '-f', readmeExample()]);
    expect(run.stdout + run.stderr).toContain('0 chart(s) failed');
  });

  it('a role\'s own volumes reach only that role (and the migration Job takes the global ones)', () => {
    const objects = renderChart([], [
      'worker.extraVolumes[0].name=spool', 'worker.extraVolumes[0].emptyDir.sizeLimit=1Gi',
      'worker.extraVolumeMounts[0].name=spool', 'worker.extraVolumeMounts[0].mountPath=/spool',
    ]);
    const [ingress, worker, job] = workloads(objects);
    expect(podSpecOf(worker!).volumes.map((v: any) => v.name)).toContain('spool');
    expect(container(worker!).volumeMounts).toContainEqual({ name: 'spool', mountPath: '/spool' });
    for (const other of [ingress!, job!]) expect(podSpecOf(other).volumes.map((v: any) => v.name)).not.toContain('spool');
  });

  it('refuses a mount without mountPath, and a volume without name, naming the key', () => {
    const noPath = runHelm(templateArgs([], ['extraVolumeMounts[0].name=x']));
    expect(noPath.status).not.toBe(0);
    expect(noPath.stderr).toMatch(/extraVolumeMounts/);
    const noName = runHelm(templateArgs([], ['ingress.extraVolumes[0].emptyDir.medium=Memory']));
    expect(noName.status).not.toBe(0);
    expect(noName.stderr).toMatch(/extraVolumes/);
  });

  it('renders nothing extra by default', () => {
    for (const workload of workloads(renderChart([]))) {
      for (const volume of podSpecOf(workload).volumes) expect(['tmp', 'config-files']).toContain(volume.name);
    }
  });
});
