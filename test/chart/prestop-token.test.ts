import { describe, expect, it } from '@jest/globals';
import { liveObject, renderAgainstCluster } from './fake-kube-api.js';
import { find, one, podSpecOf, releaseName, renderChart, runHelm, templateArgs, type K8sObject } from './helm.js';

/**
 * The ingress pods' preStop hook (httpGet /health/prestop) fails the pod's readiness, so the service takes it only
 * with PRESTOP_TOKEN in X-Prestop-Token. The chart generates the token per release and keeps it across upgrades (in
 * a Secret of its own, whatever secrets.existingSecret says), gives it to the pods as PRESTOP_TOKEN from that
 * Secret, and sends the same value from the hook: a literal in the pod spec, since the kubelet cannot read a
 * Secret for a hook. A hook without the pod's token would be refused (403): FailedPreStopHook, SIGTERM at once,
 * keep-alive connections cut.
 */

const fullname = `${releaseName}-event-integration-service`;
const secretName = `${fullname}-prestop`;
const container = (objects: K8sObject[], role: string) => podSpecOf(one(objects, 'Deployment', `-${role}`)).containers[0];
const env = (objects: K8sObject[], role: string, name: string) => (container(objects, role).env as { name: string }[]).find((e) => e.name === name);
const hookToken = (objects: K8sObject[]) =>
  (container(objects, 'ingress').lifecycle.preStop.httpGet.httpHeaders as { name: string; value: string }[]).find((h) => h.name === 'X-Prestop-Token')?.value;
const secretToken = (objects: K8sObject[]) => {
  const secret = find(objects, 'Secret').find((s) => s.metadata.name === secretName);
  return secret ? Buffer.from(secret.data!.PRESTOP_TOKEN!, 'base64').toString('utf8') : undefined;
};

describe('PRESTOP_TOKEN', () => {
  it.each([
    ['the chart-made Secret', []],
    ['secrets.existingSecret', ['secrets.existingSecret=my-secrets']],
  ])('with %s: one generated token, in its own Secret, the env of the pods and the hook header', (_mode, set) => {
    const objects = renderChart([], set);
    const token = secretToken(objects);
    expect(token).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(hookToken(objects)).toBe(token);
    // Workers have no preStop hook, but serve /health/prestop too: without the token it would take loopback callers,
    // which behind a service-mesh sidecar is every caller.
    for (const role of ['ingress', 'worker']) {
      expect(env(objects, role, 'PRESTOP_TOKEN')).toEqual({ name: 'PRESTOP_TOKEN', valueFrom: { secretKeyRef: { name: secretName, key: 'PRESTOP_TOKEN' } } });
    }
  });

  it('each release gets its own token; secrets.preStopToken pins it', () => {
    expect(secretToken(renderChart([]))).not.toBe(secretToken(renderChart([])));
    const pinned = renderChart([], ['secrets.preStopToken=pinned-prestop-token']);
    expect([secretToken(pinned), hookToken(pinned)]).toEqual(['pinned-prestop-token', 'pinned-prestop-token']);
    expect(runHelm(templateArgs([], ['secrets.preStopToken=with space'])).status).not.toBe(0);
  });

  it('is kept across upgrades: the upgrade reads it back, so the ingress pods do not roll for it', async () => {
    const install = await renderAgainstCluster([]);
    expect(install.status).toBe(0);
    const token = secretToken(install.objects)!;
    const upgrade = await renderAgainstCluster(
      [liveObject('v1', 'Secret', secretName, { type: 'Opaque', data: { PRESTOP_TOKEN: Buffer.from(token).toString('base64') } })],
      [],
      [],
      ['--is-upgrade'],
    );
    expect(upgrade.status).toBe(0);
    expect([secretToken(upgrade.objects), hookToken(upgrade.objects)]).toEqual([token, token]);
  });

  it('without the httpGet hook (preStopSleepSeconds=0, ingress.preStopHandler=sleep): no Secret, no env', () => {
    for (const set of [['preStopSleepSeconds=0'], ['ingress.preStopHandler=sleep']]) {
      const objects = renderChart([], set);
      expect(secretToken(objects)).toBeUndefined();
      for (const role of ['ingress', 'worker']) expect(env(objects, role, 'PRESTOP_TOKEN')).toBeUndefined();
    }
  });

  it('config.PRESTOP_TOKEN is refused: the chart sets it', () => {
    const run = runHelm(templateArgs([], ['config.PRESTOP_TOKEN=x']));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('config.PRESTOP_TOKEN is set by the chart itself');
  });
});
