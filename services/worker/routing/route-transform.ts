import jsonata from 'jsonata';
import { LinearRegexEngine } from './jsonata-regex-engine.js';
import { jsonataRegexLiterals } from './jsonata-regex-literals.js';
import { describeJsonataError } from './jsonata-error-description.js';
import { findUnsafeInteger } from './unsafe-integers.js';
import { inTurn } from './transform-turns.js';
import { isJsonataFunction } from './jsonata-function-value.js';
import { jsonExceeds } from './json-size-floor.js';
import { registerBoundedStringFunctions } from './bounded-string-functions.js';
import { registerStringStepBound } from './bounded-string-steps.js';
import { registerRoundedIntegerFormatters, ROUNDED_INTEGERS_BINDING } from './rounded-integer-text.js';
import { registerLinearDistinct } from './linear-distinct.js';
import { registerLinearMemorySort } from './linear-memory-sort.js';
import { unknownFunctionCall } from './jsonata-unknown-functions.js';
import { ORDER_BY_COMPARISON_BINDING, ORDER_BY_COMPARISON_BUDGET, countOrderByComparisons, orderByComparisonCounter } from './order-by-budget.js';

/**
 * Longest a transform may run for one event before it counts as failed (JSONata's own guard, error D1012). Its own
 * run: transforms take turns (transform-turns.ts), so time spent on another's is not counted.
 */
export const TRANSFORM_TIMEOUT_MS = 1000;

/**
 * The largest body a transform may send when none is given: MAX_BODY_BYTES's default. The worker gives
 * MAX_BODY_BYTES itself (RouteTable): a transform sends at most what the service accepts, as a plain forward does.
 */
export const DEFAULT_TRANSFORM_OUTPUT_BYTES = 1_048_576;

export interface RouteTransformOptions {
  /**
   * The largest result, as JSON in UTF-8, the transform may send; a larger one is this event's failed transform.
   * Also bounds, in characters, every string a step may build ($pad, $join, $string and $replace before they build
   * it, `&` and the rest as they return it), and, in items, JSONata's sequences
   * (its `sequence` option: ranges, $append, path results): a sequence drawn from a payload within MAX_BODY_BYTES is
   * shorter, each item taking at least a byte of it.
   */
  maxOutputBytes?: number;
  /** The most comparisons the order-by operators of one evaluation may make (order-by-budget.ts); a smaller one in tests. */
  orderByComparisons?: number;
  /**
   * The time limit of one evaluation, in ms: {@link TRANSFORM_TIMEOUT_MS} unless given. Tests of what a transform
   * computes give a long one, so that a loaded test machine cannot turn their answer into D1012.
   */
  timeoutMs?: number;
}

/** What a transform may read besides the payload (its input, `$`): `$id`, `$provider`, `$eventType`, `$headers`. */
export interface TransformBindings {
  id: string;
  provider: string;
  eventType: string;
  headers: Record<string, string>;
}

/** The names of {@link TransformBindings}, as a transform reads them (`$id`, …). */
const BINDING_NAMES: readonly (keyof TransformBindings)[] = ['id', 'provider', 'eventType', 'headers'];

/** A transform that failed for one event: a failed delivery attempt carrying JSONata's reason, never a crash. */
export class RouteTransformError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteTransformError';
  }
}

/** What the worker knows of the payload a transform reads, besides its value. */
export interface TransformPayloadFacts {
  /** The payload holds an integer beyond 2^53, which the transform reads as the nearest double (unsafe-integers.ts). */
  holdsRoundedIntegers?: boolean;
}

/** A compiled route `transform`: the payload in, the bytes to send out (the result as JSON). */
export type RouteTransform = (payload: unknown, bindings: TransformBindings, facts?: TransformPayloadFacts) => Promise<Buffer>;

// JSONata's option is typed as RegExpConstructor; it uses only what LinearRegexEngine implements (see there).
const RegexEngine = LinearRegexEngine as unknown as RegExpConstructor;

/**
 * Compiles a route's `transform`, a JSONata expression over the event's payload, with its regex literals run by RE2
 * in linear time (JSONata's time limit is checked between its steps, so it could not stop one backtracking match).
 * Throws when it does not compile, or when a regex literal is one RE2 cannot run (a backreference, a lookaround):
 * ROUTES_FILE's validation turns that into the start's one-line error. The compiled transform rejects with a
 * {@link RouteTransformError} when an event makes it fail (a type error, a `$error()`, the time limit) or when it
 * yields nothing to send (no value, or only a function), or when it would send a rounded integer (see
 * {@link refuseRoundedIntegers}) or write one as text (rounded-integer-text.ts), or a result over `maxOutputBytes` as
 * JSON. Single steps that could build a huge value are bounded too (see {@link RouteTransformOptions}), as the time
 * limit cannot stop them, and so are the comparisons of its order-by operators (order-by-budget.ts), whose sort holds
 * memory in the square of the list's length.
 */
export function compileRouteTransform(
  expression: string,
  { maxOutputBytes = DEFAULT_TRANSFORM_OUTPUT_BYTES, orderByComparisons = ORDER_BY_COMPARISON_BUDGET, timeoutMs = TRANSFORM_TIMEOUT_MS }: RouteTransformOptions = {},
): RouteTransform {
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(expression, { timeout: timeoutMs, RegexEngine, sequence: maxOutputBytes });
  } catch (error) {
    throw new Error(describeJsonataError(error));
  }
  registerBoundedStringFunctions(compiled, maxOutputBytes);
  registerStringStepBound(compiled, maxOutputBytes);
  registerRoundedIntegerFormatters(compiled);
  registerLinearDistinct(compiled);
  registerLinearMemorySort(compiled);
  // A call of a function JSONata lacks (a typo) compiles, and then fails on every event: refused now instead.
  const unknown = unknownFunctionCall(compiled.ast(), BINDING_NAMES);
  if (unknown) {
    throw new Error(
      `JSONata${unknown.position === undefined ? '' : ` at ${unknown.position}`}: $${unknown.name} is not a JSONata function, nor one the expression binds (:=, a function's parameters): every event would fail (T1006: attempted to invoke a non-function)`,
    );
  }
  // Regex literals are handed to the engine only when evaluated: compile each now, so a bad one stops the start.
  for (const { regex, position } of jsonataRegexLiterals(compiled.ast())) {
    try {
      new LinearRegexEngine(regex);
    } catch (error) {
      throw new Error(`JSONata${position === undefined ? '' : ` at ${position}`}: ${(error as Error).message}`);
    }
  }
  // After the checks above, which read the author's own calls: the rewrite adds one to each order-by's first term.
  const hasOrderBy = countOrderByComparisons(compiled.ast());
  return async (payload, bindings, facts = {}) => {
    let result: unknown;
    try {
      // Each evaluation counts its own order-by comparisons, with a counter of its own; whether the payload holds
      // rounded integers goes with this evaluation's bindings too, read by the steps that write numbers as text
      // (rounded-integer-text.ts): never shared with another evaluation of the same transform.
      const evaluationBindings: Record<string, unknown> = { ...bindings, [ROUNDED_INTEGERS_BINDING]: facts.holdsRoundedIntegers === true };
      if (hasOrderBy) evaluationBindings[ORDER_BY_COMPARISON_BINDING] = orderByComparisonCounter(orderByComparisons);
      result = await inTurn(() => compiled.evaluate(payload, evaluationBindings));
    } catch (error) {
      // The failure is about this event's payload: its values stay out of the text that is logged, traced and stored.
      throw new RouteTransformError(describeJsonataError(error, { withholdValues: true }));
    }
    // Counted before it is written: writing a result far over the limit is itself what would exhaust the worker.
    if (jsonExceeds(result, maxOutputBytes)) throw tooLarge(maxOutputBytes);
    const json = JSON.stringify(result, refuseUnsendable);
    if (json === undefined) throw new RouteTransformError('JSONata: the transform produced no value for this event (nothing to send)');
    if (facts.holdsRoundedIntegers) refuseRoundedIntegers(result);
    const body = Buffer.from(json, 'utf8');
    if (body.length > maxOutputBytes) throw tooLarge(maxOutputBytes);
    return body;
  };
}

/** A result over the largest body: refused whole, never cut short (a truncated JSON body is not JSON). */
function tooLarge(maxOutputBytes: number): RouteTransformError {
  return new RouteTransformError(
    `JSONata: the transform's result as JSON is over ${maxOutputBytes} bytes, the largest body a transform may send (MAX_BODY_BYTES); nothing is sent`,
  );
}

/**
 * JSON.stringify's replacer: refuses what JSON cannot carry instead of letting it pass. Left alone, JSON.stringify
 * sends Infinity and NaN (a division by a payload's zero) as `null`, a message that says the value is null (JSONata
 * itself refuses to serialise them: `$string(1/0)` is D3001). A JSONata built-in function (`$uppercase`) is an
 * object JSON.stringify would send as JSONata's internals, and a lambda holds its closure's environment, on which
 * JSON.stringify fails with a TypeError about circular structures (recorded as an internal error of the worker, not
 * the route's). Each is this event's failed transform. The text names neither the key nor the value: both can come
 * from the payload (see above).
 */
function refuseUnsendable(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new RouteTransformError(`JSONata: the transform's result holds ${Number.isNaN(value) ? 'NaN' : 'an infinite number'}, which JSON cannot carry (e.g. a division by zero); nothing is sent`);
  }
  if (typeof value === 'function' || isJsonataFunction(value)) {
    throw new RouteTransformError('JSONata: the transform yields a function, which JSON cannot carry (nothing to send)');
  }
  return value;
}

/**
 * Refuses a result holding an integer beyond 2^53 when the payload held one: JSON.parse read the payload's
 * `12345678901234567891` as 12345678901234567000, so sending what the transform copied would be another number
 * than the provider sent, and nothing would record it (like Infinity sent as `null`, above). Checked only for
 * payloads that held such integers: a transform over any other payload sends what it computed. The text names the
 * result's path (the transform's own keys, as a rule) but never the value.
 */
function refuseRoundedIntegers(result: unknown): void {
  const path = findUnsafeInteger(result);
  if (path === undefined) return;
  throw new RouteTransformError(
    `JSONata: the transform's result holds an integer beyond 2^53 at ${path.length > 120 ? `${path.slice(0, 120)}…` : path}, and the payload holds integers that large, which the transform reads only as the nearest double, so the number sent would not be the provider's; nothing is sent (such ids must be sent as strings, or forwarded without a transform)`,
  );
}
