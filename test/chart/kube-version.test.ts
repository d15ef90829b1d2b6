import { describe, expect, it } from '@jest/globals';
import { chartDir, releaseName, releaseNamespace, runHelm } from './helm.js';

/**
 * The chart needs Kubernetes 1.27 (k8s/README.md's prerequisites): its PodDisruptionBudgets rely on
 * `unhealthyPodEvictionPolicy: AlwaysAllow` (so a crash-looping pod never blocks a node drain), its spread constraints
 * on `matchLabelKeys`, both on by default from 1.27; older servers drop those fields without a word. Chart.yaml's
 * `kubeVersion` makes `helm install` on an older cluster stop with a message naming the requirement, instead of a
 * release that installs and then misbehaves. Managed clusters report pre-release versions (`v1.27.3-eks-a5565ad`),
 * which a constraint without a pre-release part (`>=1.27.0`) would refuse: hence `>=1.27.0-0`.
 */

function templateAt(kubeVersion: string) {
  return runHelm(['template', releaseName, chartDir, '--namespace', releaseNamespace, '--kube-version', kubeVersion]);
}

describe('Chart.yaml kubeVersion', () => {
  it.each(['1.26.15', 'v1.26.15-eks-2d98532', '1.22.0'])('refuses Kubernetes %s, naming the requirement', (version) => {
    const run = templateAt(version);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('chart requires kubeVersion: >=1.27.0-0 which is incompatible with Kubernetes');
  });

  it.each(['1.27.0', 'v1.27.3-eks-a5565ad', 'v1.28.9-gke.1000000', '1.33.0'])('renders for Kubernetes %s', (version) => {
    const run = templateAt(version);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('kind: Deployment');
  });
});
