import type jsonata from 'jsonata';

/**
 * Calls `visit` once with every object and array in a JSONata syntax tree (`compiled.ast()`), whatever the node type,
 * so that no place a node can stand (arguments, steps, predicates, lambda bodies, object constructors, sort terms) is
 * missed. A RegExp (a regex literal's value) is not walked into; a node reached twice is visited once.
 */
export function forEachAstNode(ast: jsonata.ExprNode, visit: (node: object) => void): void {
  const seen = new Set<object>();
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || value instanceof RegExp || seen.has(value)) return;
    seen.add(value);
    visit(value);
    for (const child of Array.isArray(value) ? value : Object.values(value)) walk(child);
  };
  walk(ast);
}
