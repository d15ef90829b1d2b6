import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layering a newcomer reads the code in (services/ingress → services/worker → destinations): each role is one
 * folder, shared code is in services/shared, composition in services/runtime, entry points are services/*.ts.
 * Roles never import each other (nor the runtime, which imports every role); shared code imports no role and not
 * the runtime. Every import counts: `import type`, `export … from`, `import('…')` and `typeof import('…')` too.
 */
const ROLES = ['ingress', 'worker', 'admin', 'console'] as const;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const services = path.join(root, 'services');

/** `ingress`, `worker`, `admin`, `console`, `shared`, `runtime`, `entry` (services/main.ts, migrate.ts) or `outside`. */
function layerOf(file: string): string {
  const [first, ...rest] = path.relative(services, file).split(path.sep);
  if (first === '..') return 'outside';
  return rest.length === 0 ? 'entry' : first!;
}

const isRole = (layer: string) => (ROLES as readonly string[]).includes(layer);

/** Why `from` may not import `to`, or undefined when it may. */
function layerViolation(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  if (isRole(from) && isRole(to)) return `role ${from} imports role ${to}`;
  if (isRole(from) && (to === 'runtime' || to === 'entry')) return `role ${from} imports the composition (${to})`;
  if (from === 'shared' && isRole(to)) return `shared imports role ${to}`;
  if (from === 'shared' && (to === 'runtime' || to === 'entry')) return `shared imports the composition (${to})`;
  return undefined;
}

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The file a relative specifier names: sources import siblings as `./x.js` (NodeNext) for `./x.ts`. */
function resolveSpecifier(importer: string, specifier: string): string {
  const target = path.resolve(path.dirname(importer), specifier);
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, path.join(target, 'index.ts')];
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile()) ?? target;
}

interface Edge {
  importer: string;
  specifier: string;
  target: string;
}

/** Every relative import of every .ts file under services/ (TypeScript's own scanner: comments and strings are skipped). */
function relativeImports(): Edge[] {
  return typeScriptFiles(services).flatMap((importer) =>
    ts
      .preProcessFile(readFileSync(importer, 'utf8'), true, true)
      .importedFiles.map((file) => file.fileName)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({ importer, specifier, target: resolveSpecifier(importer, specifier) })),
  );
}

describe('module layers under services/', () => {
  it('finds the imports it checks (a scan that reads nothing would pass anything)', () => {
    const edges = relativeImports();
    expect(edges.length).toBeGreaterThan(200);
    const unresolved = edges.filter((edge) => !existsSync(edge.target)).map((edge) => `${path.relative(root, edge.importer)}: '${edge.specifier}'`);
    expect(unresolved).toEqual([]);
  });

  it('tells the allowed directions from the forbidden ones', () => {
    expect(layerViolation('worker', 'shared')).toBeUndefined();
    expect(layerViolation('runtime', 'ingress')).toBeUndefined();
    expect(layerViolation('entry', 'runtime')).toBeUndefined();
    expect(layerViolation('ingress', 'worker')).toBe('role ingress imports role worker');
    expect(layerViolation('console', 'admin')).toBe('role console imports role admin');
    expect(layerViolation('admin', 'runtime')).toBe('role admin imports the composition (runtime)');
    expect(layerViolation('shared', 'ingress')).toBe('shared imports role ingress');
    expect(layerViolation('shared', 'runtime')).toBe('shared imports the composition (runtime)');
  });

  it('has no role importing another role, and no shared code importing a role or the runtime', () => {
    const offending = relativeImports().flatMap(({ importer, specifier, target }) => {
      const why = layerViolation(layerOf(importer), layerOf(target));
      return why ? [`${path.relative(root, importer)} imports '${specifier}' (${why})`] : [];
    });
    expect(offending).toEqual([]);
  });
});
