/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --cpu-prof=dir`): self time by function and by package,
 * and inclusive time of the service's own functions.
 *
 *   scripts/node.sh --import tsx scripts/bench/profile-summary.ts <file.cpuprofile> [top=30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfUs = new Map<number, number>();
profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
const totalUs = profile.endTime - profile.startTime;

const packageOf = (url: string): string => {
  if (!url) return '(native/vm)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1]!;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  if (url.includes('/dist/services/')) return 'service:' + url.split('/dist/services/')[1]!.split('/').slice(0, -1).join('/');
  return url;
};
const label = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const short = url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\//, '');
  return `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
};

const bySelf = new Map<string, number>();
const byPackage = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  bySelf.set(label(node), (bySelf.get(label(node)) ?? 0) + us);
  byPackage.set(packageOf(node.callFrame.url), (byPackage.get(packageOf(node.callFrame.url)) ?? 0) + us);
  // Inclusive time: each distinct frame on the stack gets the sample once.
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const frame = byId.get(current)!;
    const key = label(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
const print = (title: string, entries: Map<string, number>, filter: (key: string) => boolean = () => true) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of [...entries].filter(([key]) => filter(key)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}\n`);
  }
};
process.stdout.write(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled\n`);
print('self time by package', byPackage);
print('self time by function', bySelf);
print('inclusive time, service code and selected libraries', inclusive, (key) => /dist\/services|express|helmet|rate-limit|winston|body-parser|raw-body|prom-client|pg\/lib|bullmq|ioredis/.test(key));

// Optional: who calls a function (self time of the named frame, by its callers' chains), e.g. `callers=writeUtf8String`.
const callersOf = process.argv.slice(2).find((arg) => arg.startsWith('callers='))?.slice('callers='.length);
if (callersOf) {
  const chains = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName !== callersOf) continue;
    const chain: string[] = [];
    for (let current = parent.get(id); current !== undefined && chain.length < Number(process.env.DEPTH ?? 6); current = parent.get(current)) chain.push(label(byId.get(current)!));
    const key = chain.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + us);
  }
  print(`callers of ${callersOf}`, chains);
}
