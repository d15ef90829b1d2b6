/** Keywords of PromQL that look like identifiers but are not metric names. */
const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2',
  'inf', 'nan', 'start', 'end',
]);

/**
 * The metric names a PromQL expression selects: identifiers used as selectors (`name{…}`, `name[…]` or bare),
 * not functions or aggregations (`rate(`, `sum by (…) (`), label names in grouping clauses, label matchers,
 * strings, durations or numbers. Good enough for dashboards and rules; not a full PromQL parser.
 */
export function metricNames(expr: string): string[] {
  let text = expr
    // Strings (label values, regexes) and Grafana variables inside them.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Label matchers and range / subquery selectors, with Grafana interval variables.
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    // Grouping clauses: their parentheses hold label names.
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // Remaining Grafana variables outside strings ($__range etc. are gone with the brackets; be thorough).
  text = text.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ');
  const names = new Set<string>();
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const start = match.index!;
    const before = text[start - 1];
    // Part of a number or duration (1e3, 5m) or of a longer token.
    if (before !== undefined && /[0-9.]/.test(before)) continue;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    const after = text.slice(start + word.length).trimStart();
    if (after.startsWith('(')) continue; // function or aggregation
    names.add(word);
  }
  return [...names];
}

/** Histogram and summary series names that belong to a registered family. */
export function familyOf(name: string, registered: Set<string>): string | undefined {
  if (registered.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && registered.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return undefined;
}
