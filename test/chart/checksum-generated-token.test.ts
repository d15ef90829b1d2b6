import { describe, expect, it } from '@jest/globals';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import { find, one, releaseName, type K8sObject } from './helm.js';

/**
 * `checksum/secrets` is meant to roll the pods when, and only when, the chart-rendered Secret changes. With the admin
 * token generated (the default: secrets.generateAdminApiToken, no adminApiToken), the checksum template includes
 * secret.yaml a second time, and that second rendering draws a new random token: on an install the annotation is the
 * hash of a token that never reaches the cluster (each Deployment even hashes a different one). The first upgrade
 * with unchanged values then reads the real token back (lookup), its checksum differs, and every ingress and worker
 * pod is restarted for nothing.
 */

const fullname = `${releaseName}-event-integration-service`;
const checksums = (objects: K8sObject[]) => find(objects, 'Deployment').map((d) => d.spec.template.metadata.annotations['checksum/secrets'] as string);

describe('checksum/secrets with a generated admin token', () => {
  it('is the same on the install and on an upgrade with unchanged values (no restart of every pod for nothing)', async () => {
    const install = await renderAgainstCluster([]);
    expect(install.status).toBe(0);
    const installedSecret = one(install.objects, 'Secret', 'event-integration-service');
    expect(installedSecret.metadata.name).toBe(fullname);
    const installedToken = installedSecret.data!.ADMIN_API_TOKEN!;

    // The release as the install left it: the Secret holds the token the install rendered.
    const upgrade = await renderAgainstCluster([liveObject('v1', 'Secret', fullname, { type: 'Opaque', data: { ADMIN_API_TOKEN: installedToken } })], [], [], ['--is-upgrade']);
    expect(upgrade.status).toBe(0);
    // The upgrade keeps the token (lookup works) ...
    expect(one(upgrade.objects, 'Secret', 'event-integration-service').data!.ADMIN_API_TOKEN).toBe(installedToken);
    // ... so the pods must not roll: the checksum the install gave them must be the one the upgrade renders.
    const [ingressInstall, workerInstall] = checksums(install.objects);
    const [ingressUpgrade, workerUpgrade] = checksums(upgrade.objects);
    expect({ ingress: ingressUpgrade, worker: workerUpgrade }).toEqual({ ingress: ingressInstall, worker: workerInstall });
  });

  it('is one value per render: both Deployments hash the same Secret', async () => {
    const install = await renderAgainstCluster([]);
    expect(install.status).toBe(0);
    expect(new Set(checksums(install.objects)).size).toBe(1);
  });
});
