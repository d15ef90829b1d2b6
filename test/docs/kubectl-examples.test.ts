/**
 * The kubectl commands of the README, the runbooks (docs/runbooks.md) and the chart's README need a cluster, so the README examples test
 * leaves them out. What they can still get wrong without one is every name they hand kubectl: the Deployment, Service,
 * Job or Secret they name, the Secret key they read, the port they forward to, the labels they select by. Each is
 * checked here against the chart as `helm template` renders it, `<release>` and `<ns>` being the render's own and
 * `<fullname>` the prefix the render gave its objects; a command whose object the chart does not make (a rename in
 * the chart, a typo in the docs) fails it. Twice: with a short release name, and with one so long that the chart cuts
 * its name prefix at 40 characters, where `<release>-event-integration-service-worker` names nothing.
 *
 * A label selector must select the release (`app.kubernetes.io/instance=<release>`) whenever it selects a component:
 * the component alone also lists another release's pods in the same namespace. And it must select some object of the
 * kinds the command asks for.
 *
 * Placeholders the chart does not decide (`<pod>`, `<name>`) and commands naming no object are not checked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { chartDir, parseManifests, releaseName, releaseNamespace, runHelm, repoRoot, valuesDir, type K8sObject } from '../chart/helm.js';

const files = ['README.md', 'docs/runbooks.md', 'charts/event-integration-service/README.md'];

/** Every kubectl command of a file: fenced lines (continuations joined) and inline code spans, placeholders left. */
function kubectlCommands(text: string): string[] {
  const fenced = [...text.matchAll(/^[ \t]*```sh\n([\s\S]*?)^[ \t]*```/gm)].flatMap(([, body]) =>
    body!.replace(/\\\n\s*/g, '').split('\n').map((line) => line.trim()),
  );
  const inline = [...text.replace(/^[ \t]*```[\s\S]*?^[ \t]*```/gm, '').matchAll(/`([^`\n]*(?:\n[^`\n]*)?)`/g)].map(([, span]) => span!.replace(/\s*\n\s*/g, ' '));
  return [...fenced, ...inline]
    .flatMap((line) => [...line.matchAll(/kubectl\s[^|;)]*/g)].map((match) => match[0].trim()));
}

/** A release name long enough that `<release>-event-integration-service` is cut at 40 characters. */
const LONG_RELEASE = 'payments-webhooks-production-eu-west-1';

/** `helm template` of the chart as release `release`, with value files from test/chart/values. */
function render(release: string, valueFiles: string[]): K8sObject[] {
  const args = ['template', release, chartDir, '--namespace', releaseNamespace, '--kube-version', '1.33.0'];
  for (const file of valueFiles) args.push('-f', path.join(valuesDir, file));
  const run = runHelm(args);
  if (run.status !== 0) throw new Error(`helm template ${release} failed: ${run.stderr}`);
  return parseManifests(run.stdout);
}

/** Which objects a `kubectl <verb> <kinds> -l …` reads: the kinds it names (pods and ReplicaSets: pod templates). */
const selectorKinds: Record<string, string> = {
  deploy: 'Deployment', deployment: 'Deployment', deployments: 'Deployment', svc: 'Service', service: 'Service', secret: 'Secret', pods: 'Pod', pod: 'Pod', rs: 'Pod',
  pvc: 'PersistentVolumeClaim', serviceaccount: 'ServiceAccount', networkpolicy: 'NetworkPolicy', job: 'Job',
};

const kinds: Record<string, string> = { deploy: 'Deployment', deployment: 'Deployment', svc: 'Service', service: 'Service', job: 'Job', secret: 'Secret' };

describe.each([releaseName, LONG_RELEASE])('kubectl commands in the docs name what the chart makes (release %s)', (release) => {
  let objects: K8sObject[];
  let fullname: string;

  beforeAll(() => {
    // The defaults, and KEDA on (the runbooks' ScaledObject commands).
    objects = [...render(release, ['defaults.yaml']), ...render(release, ['keda-prometheus.yaml'])];
    // The chart's name prefix, as `kubectl get deploy -l app.kubernetes.io/instance=<release>` shows it.
    const ingress = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/instance'] === release && o.metadata.labels?.['app.kubernetes.io/component'] === 'ingress',
    )!;
    fullname = ingress.metadata.name.replace(/-ingress$/, '');
  }, 120_000);

  it('renders a name prefix cut to 40 characters for the long release name', () => {
    expect(fullname.length).toBeLessThanOrEqual(40);
    if (release === LONG_RELEASE) expect(fullname).not.toBe(`${release}-event-integration-service`);
  });

  const named = (kind: string, name: string) => objects.filter((o) => o.kind === kind && o.metadata.name === name);
  const podTemplates = () => objects.filter((o) => o.kind === 'Deployment').map((o) => o.spec.template);
  /** The objects of a kind the chart makes, pods as their templates and PVCs as the StatefulSets' claim templates. */
  const ofKind = (kind: string): K8sObject[] =>
    kind === 'Pod'
      ? podTemplates()
      : kind === 'PersistentVolumeClaim'
        ? objects.filter((o) => o.kind === 'StatefulSet').flatMap((o) => o.spec.volumeClaimTemplates ?? [])
        : objects.filter((o) => o.kind === kind);

  it.each(files)('%s', (file) => {
    const commands = kubectlCommands(readFileSync(path.join(repoRoot, file), 'utf8')).map((command) =>
      command.replaceAll('<release>', release).replaceAll('<fullname>', fullname).replaceAll('<ns>', releaseNamespace),
    );
    const problems: string[] = [];
    let checked = 0;
    for (const command of commands) {
      for (const [, short, name] of command.matchAll(/\b(deploy|deployment|svc|service|job)\/([\w.-]+)/g)) {
        checked++;
        const found = named(kinds[short!]!, name!);
        if (found.length === 0) {
          problems.push(`${command}: no ${kinds[short!]} ${name}`);
          continue;
        }
        const forward = new RegExp(`port-forward\\s+${short}/${name!.replace(/\./g, '\\.')}\\s+(?:(\\d+):)?(\\d+)`).exec(command);
        if (forward) {
          const remote = Number(forward[2]);
          const ports =
            short === 'svc' || short === 'service'
              ? found[0]!.spec.ports.map((port: { port: number }) => port.port)
              : found[0]!.spec.template.spec.containers.flatMap((c: { ports?: { containerPort: number }[] }) => (c.ports ?? []).map((port) => port.containerPort));
          if (!ports.includes(remote)) problems.push(`${command}: ${name} has no port ${remote} (${ports.join(', ')})`);
        }
      }
      const secret = /\bget\s+secret\s+([\w.-]+)/.exec(command);
      if (secret && !secret[1]!.startsWith('<')) {
        checked++;
        const found = named('Secret', secret[1]!);
        if (found.length === 0) problems.push(`${command}: no Secret ${secret[1]}`);
        const key = /jsonpath='\{\.data\.(\w+)\}'/.exec(command)?.[1];
        if (key && found[0] && !(key in { ...found[0].data, ...found[0].stringData })) problems.push(`${command}: Secret ${secret[1]} has no key ${key}`);
      }
      for (const [, selector] of command.matchAll(/(?:-l|--selector)[\s=]+([\w./-]+=[\w.-]+(?:,[\w./-]+=[\w.-]+)*)/g)) {
        checked++;
        const labels = Object.fromEntries(selector!.split(',').map((pair) => pair.split('=') as [string, string]));
        if ('app.kubernetes.io/component' in labels && labels['app.kubernetes.io/instance'] !== release) {
          problems.push(`${command}: selects a component without app.kubernetes.io/instance=<release> (another release's pods too)`);
        }
        const kindsWord = /kubectl\s+(?:-n\s+\S+\s+)?(?:get|describe|rollout\s+restart|scale|logs|delete)\s+(?:-n\s+\S+\s+)?([\w,]+)/.exec(command)?.[1] ?? 'pods';
        const kinds = kindsWord.split(',').map((word) => selectorKinds[word]);
        if (kinds.some((kind) => kind === undefined)) {
          problems.push(`${command}: selects ${kindsWord}, which this test does not know`);
          continue;
        }
        const selects = (kind: string) =>
          ofKind(kind).some((o) => Object.entries(labels).every(([key, value]) => o.metadata.labels?.[key] === value));
        // A clean-up (`delete a,b,c -l …`) lists every kind that may be left; it must select something. Any other
        // command must select something of each kind it names.
        if (/\bdelete\b/.test(command) && kinds.length > 1) {
          if (!kinds.some((kind) => selects(kind!))) problems.push(`${command}: selects nothing the chart makes`);
        } else {
          for (const kind of new Set(kinds)) if (!selects(kind!)) problems.push(`${command}: no ${kind} labelled ${selector}`);
        }
      }
      if (/\bscaledobject\b/.test(command)) {
        checked++;
        if (!objects.some((o) => o.kind === 'ScaledObject' && o.metadata.namespace === releaseNamespace)) problems.push(`${command}: no ScaledObject in ${releaseNamespace}`);
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
