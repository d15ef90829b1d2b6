/** One label matcher of a selector: `label op "value"`. */
export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** A metric selector with its label matchers: `name{label="value", …}`. */
export interface Selector {
  metric: string;
  matchers: LabelMatcher[];
}

/**
 * The selectors of a PromQL expression that name a metric (`name{…}`), with their matchers. Bare selectors
 * (`name` with no braces) have no matchers and are left to `metricNames`. Good enough for dashboards and rules, like
 * `metricNames`: not a full PromQL parser.
 */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  for (const match of expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    const matchers = [...match[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => ({
      label: m[1]!,
      op: m[2] as LabelMatcher['op'],
      value: m[3]!.replace(/\\\\/g, '\\'),
    }));
    found.push({ metric: match[1]!, matchers });
  }
  return found;
}

/**
 * The label names of the grouping and matching clauses of an expression (`by (…)`, `without (…)`, `on (…)`,
 * `ignoring (…)`, `group_left (…)`, `group_right (…)`): the labels it expects its series to carry.
 */
export function groupingLabels(expr: string): string[] {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const labels = new Set<string>();
  for (const match of text.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const label of match[2]!.split(',').map((part) => part.trim()).filter((part) => part !== '')) labels.add(label);
  }
  return [...labels];
}

/** Labels an expression adds itself: the destination label of each `label_replace(…, "dst", …)`. */
export function labelsAdded(expr: string): string[] {
  return [...expr.matchAll(/label_replace\([^"]*"([A-Za-z_][A-Za-z0-9_]*)"/g)].map((match) => match[1]!);
}

/**
 * The literal values a matcher's value stands for: the value itself for `=` / `!=`, the alternatives of a regex that
 * is a plain alternation of literals (`a|b|c`) for `=~` / `!~`; undefined for any other regex (`/health.*`) and for
 * a value holding a Grafana variable (`$namespace`), whose values are not known here.
 */
export function literalValues(matcher: LabelMatcher): string[] | undefined {
  if (matcher.value.includes('$')) return undefined;
  if (matcher.op === '=' || matcher.op === '!=') return [matcher.value];
  const alternatives = matcher.value.split('|');
  return alternatives.every((alternative) => /^[A-Za-z0-9_:/-]+$/.test(alternative)) ? alternatives : undefined;
}
