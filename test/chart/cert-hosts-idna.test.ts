import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { parseCertHosts } from '../../services/shared/config/paypal-cert-hosts.js';
import { chartDir, runHelm } from './helm.js';
import { punycodeEncode } from './punycode-encode.js';

/**
 * PAYPAL_CERT_HOSTS entries past ASCII: the pods parse each with the WHATWG URL parser, whose IDNA (UTS #46) maps
 * fullwidth forms to ASCII, drops invisible (ignored) code points and, for a host past ASCII, decodes and checks every
 * xn-- label's Punycode. The chart (eis.certHostProblem) does the part of this it can do exactly. Thousands of entries
 * are fed to both at once (a scratch chart with the chart's own helper templates renders the chart's verdict for each):
 * the chart must refuse none the pods take, and must refuse the kinds it claims to catch.
 */

const directory = mkdtempSync(path.join(tmpdir(), 'eis-cert-hosts-idna-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(path.join(directory, 'templates'));
  writeFileSync(path.join(directory, 'Chart.yaml'), 'apiVersion: v2\nname: cert-hosts-harness\nversion: 0.0.0\n');
  for (const file of readdirSync(path.join(chartDir, 'templates')).filter((f) => f.startsWith('_') && f.endsWith('.tpl'))) {
    copyFileSync(path.join(chartDir, 'templates', file), path.join(directory, 'templates', file));
  }
  writeFileSync(
    path.join(directory, 'templates', 'verdicts.yaml'),
    'verdicts:\n{{- range .Values.entries }}\n  - {{ include "eis.certHostsProblem" . | b64enc | quote }}\n{{- end }}\n',
  );
});

/** The chart's reason for refusing each value (eis.certHostsProblem: split at commas, trimmed), or "" (one helm run for all). */
function chartVerdicts(entries: string[]): string[] {
  const file = path.join(directory, 'entries.json');
  // YAML (which helm reads values files as) refuses raw C1 controls and folds U+0085 / U+2028 as line breaks: every
  // character past printable ASCII is escaped, astral ones in YAML's \U form (JSON would write surrogate pairs).
  const escaped = JSON.stringify({ entries }).replace(/[^\x20-\x7e]/gu, (c) => {
    const cp = c.codePointAt(0)!;
    return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
  writeFileSync(file, escaped);
  const run = runHelm(['template', 'harness', directory, '-f', file]);
  if (run.status !== 0) throw new Error(run.stderr);
  // Base64: a reason quotes the entry, which may hold characters YAML refuses.
  const encoded = (parseYaml(run.stdout.replace(/^---.*\n# Source:.*\n/, '')) as { verdicts: string[] }).verdicts;
  const verdicts = encoded.map((reason) => Buffer.from(reason, 'base64').toString('utf8'));
  expect(verdicts).toHaveLength(entries.length);
  return verdicts;
}

/** Whether the service takes the value (its comma-separated entries, each trimmed, as config-schema.ts splits them). */
const servicetakes = (entry: string) => {
  try {
    parseCertHosts(entry.split(','));
    return true;
  } catch {
    return false;
  }
};

/** A deterministic generator (mulberry32), so a failure reproduces. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Code points to try: every one up to U+07FF and in the ranges IDNA treats specially, and a spread of the rest. */
function codePoints(): number[] {
  const points = new Set<number>();
  const add = (from: number, to: number, step = 1) => {
    for (let cp = from; cp <= to; cp += step) if (cp < 0xd800 || cp > 0xdfff) points.add(cp);
  };
  add(0, 0x7ff);
  add(0x115f, 0x1160);
  add(0x13a0, 0x13ff);
  add(0x17b4, 0x17b5);
  add(0x1800, 0x180f);
  add(0x2000, 0x206f);
  add(0x2100, 0x218f);
  add(0x3000, 0x3010);
  add(0x3164, 0x3164);
  add(0xe000, 0xe00f);
  add(0xfe00, 0xfe0f);
  add(0xfeff, 0xffff);
  add(0x1bca0, 0x1bca3);
  add(0x1d173, 0x1d17a);
  add(0xe0100, 0xe0110);
  add(0x800, 0x10ffff, 997);
  return [...points];
}

/** Entries built around one character: in an xn-- label's prefix, in a label, decoded from Punycode, in an address. */
const shapes = (c: string): string[] => [
  `x${c}n--ñ.de`, `x${c}n--a.com`, `${c}xn--a.com`, `ex${c}ample.com`, `a${c}.xn--9ca`, `${c}.xn--a`, `example.1${c}`,
  `*.1${c}.2.3.4`, `a${c}b.com:443`, `xn--${c}.com`, `é.xn--${punycodeEncode(`é${c}`)}`, `é.xn--${punycodeEncode(`${c}é`)}`,
  `a.xn--${punycodeEncode(`${c}`)}`,
];

function corpus(): string[] {
  const next = random(20261204);
  const entries: string[] = [];
  for (const cp of codePoints()) entries.push(...shapes(String.fromCodePoint(cp)));
  // Random ASCII after xn--, in a host past ASCII (checked) and an ASCII one (taken as it is).
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-ABZ';
  for (let i = 0; i < 3000; i += 1) {
    let label = '';
    const length = Math.floor(next() * 9);
    for (let j = 0; j < length; j += 1) label += alphabet[Math.floor(next() * alphabet.length)];
    entries.push(i % 3 === 0 ? `xn--${label}.example` : `é.xn--${label}`);
  }
  return entries;
}

const visible = (value: string) => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

describe('PAYPAL_CERT_HOSTS past ASCII: the chart and the pods\' URL parser', () => {
  it('the chart refuses no entry the pods take (fullwidth, invisible, Unicode, Punycode; thousands of entries)', () => {
    const entries = corpus();
    const verdicts = chartVerdicts(entries);
    const wronglyRefused = entries.filter((entry, i) => verdicts[i] !== '' && servicetakes(entry)).map(visible);
    expect(wronglyRefused).toEqual([]);
    // The corpus does hold refusals of each kind (not an empty comparison).
    const refused = entries.filter((_, i) => verdicts[i] !== '');
    expect(refused.length).toBeGreaterThan(1000);
  });

  it.each([
    ['an xn-- label whose Punycode does not decode, in a host past ASCII', ['é.xn--a', 'é.xn--', 'é.xn--zz', 'é.xn--99999999999', 'a\u00ad.xn--a', '*.é.xn--a:8443']],
    ['an xn-- label decoding to ASCII only, or to what IDNA refuses (a combining mark first, an upper-case letter, a control)', ['é.xn--abc-', 'é.xn--9ca-', 'é.xn--ssa', 'é.xn--d-jfa', `é.xn--${punycodeEncode('é\u0085')}`, `é.xn--${punycodeEncode('é\ue000')}`]],
    ['fullwidth letters spelling xn--', ['ｘｎ--ñ.de', 'ｘｎ--a.com', 'é.ｘｎ--a', 'ＸＮ--a.ｃｏｍ']],
    ['invisible (ignored) characters inside xn--, or making an ASCII host one past ASCII', ['x\u00adn--ñ.de', 'x\u200bn--a.com', 'xn--a\u200b.com', 'x\ufeffn--a.com', 'x\u2060n--a.com']],
    ['a label beginning with a combining mark, or a character IDNA maps to one (UTS #46 V5)', ['\u0301a.com', 'a.\u0301b.com', 'é.\u0301b', '*.\u0301a.com:8443', '\u00ad\u0301a.com', 'ａ．\u0301b.com', '\u0903a.com', 'a.\u{1d165}b', '\u0e33a.com', '\uff9ea.com', `é.xn--${punycodeEncode('\u0903é')}`]],
    ['a zero-width joiner or non-joiner after a letter (IDNA\'s CheckJoiners)', ['ex\u200dample.com', 'ex\u200cample.com', '\u200dexample.com']],
    ['fullwidth forms mapping to a forbidden character, a number or an address', ['\uff21\uff0fb', 'a\uff03b', 'a\uff1a443', 'example.\uff11', '*.1\u00ad.2.3.4', '*.１.２.３.４', '１.２.３.２５６', 'Ⅻ／b.com']],
  ])('refuses %s, as the pods do', (_kind, entries) => {
    const verdicts = chartVerdicts(entries);
    expect(entries.map((entry, i) => ({ entry: visible(entry), service: servicetakes(entry), chart: verdicts[i] !== '' })))
      .toEqual(entries.map((entry) => ({ entry: visible(entry), service: false, chart: true })));
  });

  it('refuses a label beginning with a code point exactly when the pods do, for every combining mark (first in a raw and in a Punycode label)', () => {
    // Every code point Unicode counts as a mark, the ones the pods refuse at a label's start, their neighbours and a
    // spread of the rest; each compared where the pods take it inside a label, so that its place is all that differs.
    const points = new Set<number>();
    for (let cp = 0x80; cp <= 0x10ffff; cp += 1) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (/\p{M}/u.test(c) || (!servicetakes(`${c}a.com`) && servicetakes(`a${c}a.com`)) || cp % 251 === 0) {
        for (const near of [cp - 1, cp, cp + 1]) if (near >= 0x80 && (near < 0xd800 || near > 0xdfff)) points.add(near);
      }
    }
    const entries: string[] = [];
    for (const cp of points) {
      const c = String.fromCodePoint(cp);
      if (servicetakes(`a${c}a.com`)) entries.push(`${c}a.com`, `é.${c}b`);
      if (servicetakes(`é.xn--${punycodeEncode(`é${c}`)}`)) entries.push(`é.xn--${punycodeEncode(`${c}é`)}`);
    }
    const verdicts = chartVerdicts(entries);
    const disagreements = entries
      .map((entry, i) => ({ entry: visible(entry), serviceTakes: servicetakes(entry), chartTakes: verdicts[i] === '' }))
      .filter(({ serviceTakes, chartTakes }) => serviceTakes !== chartTakes);
    expect(disagreements).toEqual([]);
    // Both ways: the comparison holds refusals (U+0301 first) and entries taken (a mark after a letter is not first).
    expect(entries.filter((entry) => !servicetakes(entry)).length).toBeGreaterThan(2000);
    expect(entries.filter((entry) => servicetakes(entry)).length).toBeGreaterThan(1000);
  });

  it('takes Unicode, fullwidth and invisible characters that map to a good host, and an ASCII host\'s xn-- labels unchecked', () => {
    const entries = ['münchen.de', 'ｅｘａｍｐｌｅ.com', 'ＥＸＡＭＰＬＥ．ｃｏｍ', 'ex\u00adample.com', 'ex\u200bample.com', 'Ⅻ.com', 'é.xn--mnchen-3ya.de',
      'é.XN--9CA', '１.２.３.４:8443', 'xn--a.com', 'xn--9ca-.example', 'xn--9c%EF%BD%81.%C3%A9', 'a_b.com', `क्\u200dष.com`,
      // A combining mark past the start of a label; marks the pods' parser takes first (U+0897, newer than its table of
      // marks) or maps to a letter (U+0345 to ι), which a Unicode \p{M} would refuse.
      'e\u0301.com', 'a\u0301.com', 'é.a\u0301b', '\u0897a.com', '\u0345a.com'];
    const verdicts = chartVerdicts(entries);
    expect(entries.map((entry, i) => ({ entry: visible(entry), service: servicetakes(entry), chart: verdicts[i] }))).toEqual(
      entries.map((entry) => ({ entry: visible(entry), service: true, chart: '' })),
    );
  });
});
