import type jsonata from 'jsonata';
import { findUnsafeInteger } from './unsafe-integers.js';
import { jsonataBuiltIn } from './jsonata-built-in.js';

/**
 * A number written as text is no longer a number the result check finds (route-transform.ts, refuseRoundedIntegers):
 * over a payload whose `1234567890123456789` JSON.parse read as the nearest double, `$string(id)` and `"order-" & id`
 * send "1234567890123456800", an id silently changed. So, when the payload holds rounded integers, every step that
 * writes a number as text refuses to write an integer beyond 2^53: `$string` (also nested in an object or array it
 * writes as JSON), `&` (bounded-string-steps.ts, which sees its operands), and the stand-ins registered here for
 * $formatNumber, $formatBase and $formatInteger. ($fromMillis writes no digits of one: every such integer is past the
 * last date, and JSONata writes NaN fields. Every other built-in refuses a number where it takes text, or writes
 * nothing of it.) Over any other payload a large number is one the transform computed, and written as it is.
 */

/**
 * The binding that tells the steps of one evaluation whether its payload holds rounded integers. Bound per
 * evaluation (with `$id` and the rest), so two evaluations of one transform never share it, whatever runs in
 * between; its name holds spaces, which a JSONata variable's name cannot, so no transform can read or rebind it.
 */
export const ROUNDED_INTEGERS_BINDING = 'payload holds rounded integers';

/** JSONata's environment as a step or a function sees it (the `this.environment` of a registered function). */
export interface JsonataEnvironment {
  lookup(name: string): unknown;
}

/**
 * Refuses to let `step` write `value` as text when the evaluation's payload holds rounded integers and `value` is, or
 * holds (as JSON), an integer beyond 2^53. A function inside it is not walked: JSONata writes one as "", and its
 * closure holds the evaluation's own frames (and the payload). The message names the step, never the value.
 */
export function refuseRoundedIntegerText(step: string, value: unknown, environment: JsonataEnvironment | undefined): void {
  if (value === undefined || typeof value === 'string' || environment?.lookup(ROUNDED_INTEGERS_BINDING) !== true) return;
  if (findUnsafeInteger(value) === undefined) return;
  throw new Error(
    `${step} would write an integer beyond 2^53 as text, and the payload holds integers that large, which the transform reads only as the nearest double, so the digits written would not be the provider's; nothing is sent (such ids must be sent as strings, or forwarded without a transform)`,
  );
}

/** The `this` JSONata gives a registered function: where it was called. */
interface FunctionFocus {
  environment?: JsonataEnvironment;
}

/**
 * Registers $formatNumber, $formatBase and $formatInteger as JSONata's own (the same signatures, so the same
 * validation and context rule), called only once the number is known not to be a rounded integer of the payload's
 * (see above). Each takes JSONata's own parameters: JSONata reads a function's parameter list from its source, to
 * apply it partially (`$formatBase(?, 16)`) and to count what $map passes it. ($string is
 * bounded-string-functions.ts's, which checks too.)
 */
export function registerRoundedIntegerFormatters(expression: jsonata.Expression): void {
  expression.registerFunction(
    'formatNumber',
    async function (this: FunctionFocus, value: unknown, picture: unknown, options: unknown) {
      refuseRoundedIntegerText('$formatNumber', value, this.environment);
      return (await builtIn.formatNumber).call(this, value, picture, options);
    },
    '<n-so?:s>',
  );
  expression.registerFunction(
    'formatBase',
    async function (this: FunctionFocus, value: unknown, radix: unknown) {
      refuseRoundedIntegerText('$formatBase', value, this.environment);
      return (await builtIn.formatBase).call(this, value, radix);
    },
    '<n-n?:s>',
  );
  expression.registerFunction(
    'formatInteger',
    async function (this: FunctionFocus, value: unknown, picture: unknown) {
      refuseRoundedIntegerText('$formatInteger', value, this.environment);
      return (await builtIn.formatInteger).call(this, value, picture);
    },
    '<n-s:s>',
  );
}

/** JSONata's own formatters (their pictures, errors and all), called once the number has passed the check. */
const builtIn = {
  formatNumber: jsonataBuiltIn('formatNumber'),
  formatBase: jsonataBuiltIn('formatBase'),
  formatInteger: jsonataBuiltIn('formatInteger'),
};
