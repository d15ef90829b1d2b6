import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { chartDir } from './helm.js';

/**
 * The chart README's "Values" table is where a platform team looks up what it can set. It names keys in its first
 * column (`a.b`, `a.{b,c}`, `<role>.x`, `a.*`); every key of values.yaml must be reachable from one of them, and
 * every key the table names must exist in values.yaml (but for the deprecated `ingress.ingressResource`, still read).
 */

const values = parseYaml(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
const readme = readFileSync(path.join(chartDir, 'README.md'), 'utf8');

/** `a.{b,c}` → a.b, a.c; `<role>.x` → ingress.x, worker.x; a trailing `.*` names the whole subtree. */
function expand(pattern: string): string[] {
  const brace = /^(.*?)\{([^}]*)\}(.*)$/.exec(pattern);
  if (brace) return brace[2]!.split(',').flatMap((part) => expand(`${brace[1]}${part.trim()}${brace[3]}`));
  if (pattern.includes('<role>')) return ['ingress', 'worker'].flatMap((role) => expand(pattern.replace('<role>', role)));
  return [pattern.replace(/\.\*$/, '')];
}

/** The keys the table's first column names. */
function documentedKeys(): string[] {
  const table = readme.slice(readme.indexOf('## Values'), readme.indexOf('\n## ', readme.indexOf('## Values') + 1));
  const keys: string[] = [];
  for (const line of table.split('\n')) {
    const firstCell = /^\|([^|]*)\|/.exec(line)?.[1];
    if (!firstCell) continue;
    for (const [, code] of firstCell.matchAll(/`([^`]+)`/g)) keys.push(...expand(code!));
  }
  return keys;
}

/** Leaf paths of values.yaml; `config` and `<role>.config` are maps of variables, documented as one key. */
function valueKeys(): string[] {
  const keys: string[] = [];
  const walk = (value: unknown, at: string[]) => {
    const isMap = value !== null && typeof value === 'object' && !Array.isArray(value);
    if (at.at(-1) === 'config' || !isMap || Object.keys(value as object).length === 0) {
      keys.push(at.join('.'));
      return;
    }
    for (const [key, child] of Object.entries(value as object)) walk(child, [...at, key]);
  };
  walk(values, []);
  return keys.filter((key) => key !== '');
}

function exists(key: string): boolean {
  let node: any = values;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object' || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

describe('the chart README values table', () => {
  const documented = documentedKeys();

  it('parses (the table is where it used to be)', () => {
    expect(documented.length).toBeGreaterThan(50);
  });

  it('documents every key of values.yaml', () => {
    const undocumented = valueKeys().filter((key) => !documented.some((d) => key === d || key.startsWith(`${d}.`)));
    expect(undocumented).toEqual([]);
  });

  it('names only keys values.yaml has (but for the deprecated ingress.ingressResource)', () => {
    const unknown = documented.filter((key) => key !== 'ingress.ingressResource' && !exists(key));
    expect(unknown).toEqual([]);
  });
});
