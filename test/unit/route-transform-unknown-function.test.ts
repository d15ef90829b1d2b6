/**
 * A transform calling a function JSONata does not have (a typo: `$uppercse(name)`, `$formatnumber(…)`) compiles in
 * JSONata's sense, so ROUTES_FILE accepted it; then every event failed evaluating it (T1006, "Attempted to invoke a
 * non-function"), was retried and dead-lettered, however correct its payload. It stops the start instead, naming the
 * route and the function. Expressions calling what they bind themselves stay valid.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { JSONATA_FUNCTIONS } from '../../services/worker/routing/jsonata-unknown-functions.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';

const SOURCE = 'ROUTES_FILE /etc/routes.yaml';
const withTransform = (transform: string) =>
  `destinations:\n  billing: { url: "http://billing.internal/hooks" }\nroutes:\n  - provider: stripe\n    transform: ${JSON.stringify(transform)}\n    to: [billing]\n`;

describe('a transform calling a function JSONata does not have', () => {
  it('fails on every event, whatever its payload (why the start refuses it)', async () => {
    const jsonata = (await import('jsonata')).default;
    for (const payload of [{ name: 'jo' }, {}, []]) {
      await expect(jsonata('{ "name": $uppercse(name) }').evaluate(payload)).rejects.toMatchObject({ code: 'T1006' });
    }
  });

  it.each([
    ['{ "name": $uppercse(name) }', 'uppercse', 20],
    ['{ "amount": $formatnumber(amount, "#,##0.00") }', 'formatnumber', 26],
    ['items ~> $mapp(function($i) { $i.sku })', 'mapp', 15],
    ['( $f := function($x) { $x }; $g(1) )', 'g', 32],
    ['$pad(?, 5)(name) & $trimm(name)', 'trimm', 26],
  ])('%s stops the start naming the route and $%s (where JSONata places its T1006)', (transform, name, position) => {
    expect(() => parseRoutes(withTransform(transform), SOURCE)).toThrow(
      `${SOURCE}: routes.0.transform: the JSONata expression does not compile: JSONata at ${position}: $${name} is not a JSONata function, nor one the expression binds (:=, a function's parameters): every event would fail (T1006: attempted to invoke a non-function)`,
    );
  });

  it.each([
    '{ "name": $uppercase(name), "at": $now(), "ms": $millis(), "e": $eval("1 + 1") }',
    '( $f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(5) )',
    '$map(items, function($i, $k) { $k })',
    'function($g) { $g(1) }(function($x) { $x + 1 })',
    '( $add := function($a, $b) { $a + $b }; $inc := $add(?, 1); $inc(2) )',
    'items@$i.tags#$n.{ "t": $, "n": $n }',
    '$sift($, function($v, $k) { $k = "id" }) ~> $keys()',
    '$string($headers."user-agent") & $id & $provider & $eventType',
    '$$.items[0]',
  ])('takes %s', (transform) => {
    expect(() => parseRoutes(withTransform(transform), SOURCE)).not.toThrow();
  });

  it("knows JSONata's whole function library, and nothing more", () => {
    const source = readFileSync(createRequire(import.meta.url).resolve('jsonata'), 'utf8');
    const library = [...source.matchAll(/(?:staticFrame|environment)\.bind\('([A-Za-z0-9]+)'/g)].map((match) => match[1]);
    expect([...JSONATA_FUNCTIONS].sort()).toEqual([...new Set(library)].sort());
  });
});
