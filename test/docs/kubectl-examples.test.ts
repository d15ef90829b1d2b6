/**
 * The kubectl commands of the README and the runbooks (docs/runbooks.md) need a cluster, so the README examples test
 * leaves them out. What they can still get wrong without one is every name they hand kubectl: the Deployment, Service,
 * Job or Secret they name, the Secret key they read, the port they forward to, the label they select pods by. Each is
 * checked here against the chart as `helm template` renders it, `<release>` and `<ns>` being the render's own; a
 * command whose object the chart does not make (a rename in the chart, a typo in the docs) fails it.
 *
 * Placeholders the chart does not decide (`<pod>`, `<name>`) and commands naming no object are not checked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { releaseName, releaseNamespace, renderChart, repoRoot, type K8sObject } from '../chart/helm.js';

const files = ['README.md', 'docs/runbooks.md'];

/** Every kubectl command of a file: fenced lines (continuations joined) and inline code spans. */
function kubectlCommands(text: string): string[] {
  const fenced = [...text.matchAll(/^[ \t]*```sh\n([\s\S]*?)^[ \t]*```/gm)].flatMap(([, body]) =>
    body!.replace(/\\\n\s*/g, '').split('\n').map((line) => line.trim()),
  );
  const inline = [...text.replace(/^[ \t]*```[\s\S]*?^[ \t]*```/gm, '').matchAll(/`([^`\n]*(?:\n[^`\n]*)?)`/g)].map(([, span]) => span!.replace(/\s*\n\s*/g, ' '));
  return [...fenced, ...inline]
    .flatMap((line) => [...line.matchAll(/kubectl\s[^|;)]*/g)].map((match) => match[0].trim()))
    .map((command) => command.replaceAll('<release>', releaseName).replaceAll('<ns>', releaseNamespace));
}

const kinds: Record<string, string> = { deploy: 'Deployment', deployment: 'Deployment', svc: 'Service', service: 'Service', job: 'Job', secret: 'Secret' };

describe('kubectl commands in the docs name what the chart makes', () => {
  let objects: K8sObject[];

  beforeAll(() => {
    // The defaults, and KEDA on (the runbooks' ScaledObject commands).
    objects = [...renderChart(['defaults.yaml']), ...renderChart(['keda-prometheus.yaml'])];
  }, 120_000);

  const named = (kind: string, name: string) => objects.filter((o) => o.kind === kind && o.metadata.name === name);
  const podTemplates = () => objects.filter((o) => o.kind === 'Deployment').map((o) => o.spec.template);

  it.each(files)('%s', (file) => {
    const commands = kubectlCommands(readFileSync(path.join(repoRoot, file), 'utf8'));
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
      for (const [, component] of command.matchAll(/-l\s+app\.kubernetes\.io\/component=([\w-]+)/g)) {
        checked++;
        if (!podTemplates().some((template) => template.metadata.labels?.['app.kubernetes.io/component'] === component)) {
          problems.push(`${command}: no pods labelled app.kubernetes.io/component=${component}`);
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
