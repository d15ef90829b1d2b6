import type jsonata from 'jsonata';
import { jsonExceeds } from './json-size-floor.js';
import { forEachAstNode } from './jsonata-ast-walk.js';
import { jsonataBuiltIn } from './jsonata-built-in.js';
import { refuseRoundedIntegerText, type JsonataEnvironment } from './rounded-integer-text.js';

/**
 * Bounds every string a transform's steps produce to `limit` characters, through JSONata's step-exit hook (the
 * environment's `jsonata.__evaluate_exit`, called with each step's result).
 *
 * `&` joins two strings into a rope without copying them, so `$s := $s & $s` nine times over a 1 MiB field made a
 * 536-million-character string in milliseconds, each step well within the time limit; the next function that read it
 * (`$contains`, `$uppercase`) flattened it in one step: 587 MB. A string longer than `limit` could never be sent
 * whole (each character is at least a byte of the body), so the step that makes one is this event's failed
 * transform, before any other step reads it. Reading a rope's length does not flatten it. `&` also writes a
 * non-string operand as JSON with JSONata's internal $string, not the bounded one (bounded-string-functions.ts):
 * such an operand is measured before `&` writes it, and checked for a rounded integer of the payload's
 * (rounded-integer-text.ts); so are those of an expression `$eval` runs. The functions whose one step could allocate
 * far more than their result ($pad, $join, $string, $replace) are bounded before they build
 * (bounded-string-functions.ts); any other step's string is at most a small multiple of strings already within the
 * limit.
 */
export function registerStringStepBound(expression: jsonata.Expression, limit: number): void {
  const operands = concatOperands(expression.ast());
  const refuse = (name: string): never => {
    throw new Error(`${name} would build a string of over ${limit} characters, more than the largest body a transform may send (MAX_BODY_BYTES); nothing is built`);
  };
  const onStepExit = (step: StepNode, _input: unknown, environment: JsonataEnvironment, result: unknown): void => {
    if (typeof result === 'string') {
      if (result.length > limit) refuse(stepName(step));
    } else if (result !== undefined && operands.has(step)) {
      const written = singleItem(result);
      if (jsonExceeds(written, limit)) refuse('&');
      // `&` writes a number as text: not a rounded integer of the payload's (rounded-integer-text.ts).
      refuseRoundedIntegerText('&', written, environment);
    }
  };
  // (The hook is looked up by JSONata in the environment, as a binding under this symbol.)
  expression.assign(Symbol.for(EXIT_HOOK) as unknown as string, onStepExit);

  // An expression `$eval` parses as it runs is not in the compiled tree: its `&` operands are marked as each `&` is
  // entered (before they are), by a step-entry hook seen only by the steps of that expression (a hook on every step
  // of every transform cost a sixth of the evaluation's time).
  const markOperands = (step: StepNode): void => {
    if (isConcat(step)) for (const operand of [step.lhs, step.rhs]) if (operand && typeof operand === 'object') operands.add(operand);
  };
  expression.registerFunction(
    'eval',
    async function (this: jsonata.Focus, expr: unknown, focus: unknown) {
      const environment = withLookup(this.environment, Symbol.for(ENTRY_HOOK), markOperands);
      return (await builtInEval).call({ ...this, environment }, expr, focus);
    },
    '<sx?:x>',
  );
}

const ENTRY_HOOK = 'jsonata.__evaluate_entry';
const EXIT_HOOK = 'jsonata.__evaluate_exit';

/**
 * A JSONata frame that answers `name` with `value` and is otherwise `environment` itself: its bindings, its `base`
 * (the evaluation's limits) and its other fields are read through the prototype, and `bind` binds in the frame itself.
 */
function withLookup(environment: jsonata.Environment, name: symbol, value: unknown): jsonata.Environment {
  return Object.create(environment, {
    lookup: { value: (key: string | symbol) => (key === name ? value : environment.lookup(key)) },
  }) as jsonata.Environment;
}

/** JSONata's own $eval (its parse, its errors), run in a frame with the step-entry hook (`this` as JSONata gives it). */
const builtInEval = jsonataBuiltIn<(this: unknown, ...args: unknown[]) => Promise<unknown>>('eval');

interface StepNode {
  type?: string;
  value?: unknown;
  lhs?: unknown;
  rhs?: unknown;
  procedure?: { value?: unknown };
}

function isConcat(step: StepNode): boolean {
  return step.type === 'binary' && step.value === '&';
}

/** What the message calls the step: `&`, a function by its name, or else "a step". */
function stepName(step: StepNode): string {
  if (isConcat(step)) return '&';
  if (step.type === 'function' && typeof step.procedure?.value === 'string') return `$${step.procedure.value}`;
  return 'a step';
}

/** A step's result of one item is still JSONata's sequence at the hook; `&` sees the item. */
function singleItem(result: unknown): unknown {
  return Array.isArray(result) && (result as { sequence?: boolean }).sequence && result.length === 1 ? result[0] : result;
}

/** The syntax tree's nodes that are an operand of `&`, found by walking every object and array in it. */
function concatOperands(ast: jsonata.ExprNode): WeakSet<object> {
  const operands = new WeakSet<object>();
  forEachAstNode(ast, (value) => {
    const node = value as StepNode;
    if (isConcat(node)) {
      for (const operand of [node.lhs, node.rhs]) if (operand && typeof operand === 'object') operands.add(operand);
    }
  });
  return operands;
}
