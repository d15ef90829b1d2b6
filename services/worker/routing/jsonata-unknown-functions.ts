import type jsonata from 'jsonata';
import { forEachAstNode } from './jsonata-ast-walk.js';

/**
 * JSONata's function library (jsonata 2.x: the functions its static frame binds, and `$now` / `$millis`, bound per
 * expression). test/unit/route-transform-unknown-function.test.ts checks this list against the installed library.
 */
export const JSONATA_FUNCTIONS: ReadonlySet<string> = new Set([
  'sum', 'count', 'max', 'min', 'average', 'string', 'substring', 'substringBefore', 'substringAfter', 'lowercase',
  'uppercase', 'length', 'trim', 'pad', 'match', 'contains', 'replace', 'split', 'join', 'formatNumber', 'formatBase',
  'formatInteger', 'parseInteger', 'number', 'floor', 'ceil', 'round', 'abs', 'sqrt', 'power', 'random', 'boolean',
  'not', 'map', 'zip', 'filter', 'single', 'reduce', 'sift', 'keys', 'lookup', 'append', 'exists', 'spread', 'merge',
  'reverse', 'each', 'error', 'assert', 'type', 'sort', 'shuffle', 'distinct', 'base64encode', 'base64decode',
  'encodeUrlComponent', 'encodeUrl', 'decodeUrlComponent', 'decodeUrl', 'eval', 'toMillis', 'fromMillis', 'clone',
  'now', 'millis',
]);

/** A call of a function the expression cannot have: its name (without `$`) and where JSONata places the call. */
export interface UnknownFunctionCall {
  name: string;
  position: number | undefined;
}

interface Node {
  type?: unknown;
  value?: unknown;
  position?: unknown;
  procedure?: { type?: unknown; value?: unknown };
  lhs?: { type?: unknown; value?: unknown };
  arguments?: unknown;
  focus?: unknown;
  index?: unknown;
}

/**
 * The first call, in the expression's syntax tree, of a `$name` that is neither one of JSONata's functions nor
 * `given` (the transform's bindings) nor bound anywhere in the expression (`$f := …`, a lambda's parameter, a path's
 * `@$v` / `#$i`). JSONata compiles such a call (`$uppercse(name)`, a typo), and evaluating it fails on every event
 * (T1006, "Attempted to invoke a non-function"): each event was retried and dead-lettered. A name bound anywhere
 * counts as bound wherever it is called (no scoping is worked out), so a valid expression is never refused.
 */
export function unknownFunctionCall(ast: jsonata.ExprNode, given: readonly string[]): UnknownFunctionCall | undefined {
  const bound = new Set<string>(given);
  const calls: UnknownFunctionCall[] = [];
  forEachAstNode(ast, (value) => {
    const node = value as Node;
    if (node.type === 'bind' && node.lhs?.type === 'variable' && typeof node.lhs.value === 'string') bound.add(node.lhs.value);
    if (node.type === 'lambda' && Array.isArray(node.arguments)) {
      for (const parameter of node.arguments as Node[]) if (typeof parameter?.value === 'string') bound.add(parameter.value);
    }
    if (typeof node.focus === 'string') bound.add(node.focus);
    if (typeof node.index === 'string') bound.add(node.index);
    // `$()` / `$$()` call the input: not a name.
    if ((node.type === 'function' || node.type === 'partial') && node.procedure?.type === 'variable' && typeof node.procedure.value === 'string' && !['', '$'].includes(node.procedure.value)) {
      calls.push({ name: node.procedure.value, position: typeof node.position === 'number' ? node.position : undefined });
    }
  });
  return calls.find((call) => !JSONATA_FUNCTIONS.has(call.name) && !bound.has(call.name));
}
