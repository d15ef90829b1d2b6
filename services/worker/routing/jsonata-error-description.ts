/**
 * The one-line text of a JSONata failure: `JSONata T2001 at 14: The left side of the "+" operator must evaluate to a
 * number`. JSONata throws plain objects (`{code, message, position, token, value, value2, …}`), not Errors; anything
 * else thrown is described by its message.
 */

/** The error fields JSONata's message templates render as `{{value}}`, `{{value2}}`, `{{exp}}`: data the expression was working on. */
const VALUE_INSERTS = ['value', 'value2', 'exp'] as const;

/** Codes whose `{{value}}` is one of the engine's own limits (the time limit, the sequence cap), not data: nothing to withhold. */
const CODES_WITH_SETTING_VALUES = new Set(['D1012', 'D2015']);

/** Stands where a withheld value was, so the sentence still reads ("Unable to cast value to a number: <value>"). */
export const WITHHELD_VALUE = '<value>';

interface JsonataErrorObject {
  code: string;
  message?: string;
  position?: number;
  [insert: string]: unknown;
}

function isJsonataErrorObject(error: unknown): error is JsonataErrorObject {
  return !!error && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * JSONata's message with its value inserts replaced by {@link WITHHELD_VALUE}. JSONata renders each insert with
 * JSON.stringify into the code's template, so the same rendering is what gets replaced; it must stand on its own
 * (not inside a longer word or number), so a small number does not cut a digit out of the template's own text.
 */
function withoutValues(error: JsonataErrorObject, message: string): string {
  if (CODES_WITH_SETTING_VALUES.has(error.code)) return message;
  let text = message;
  for (const insert of VALUE_INSERTS) {
    if (!(insert in error)) continue;
    const rendered = JSON.stringify(error[insert]);
    if (rendered === undefined) continue;
    // $eval's failure quotes the message of the expression's own (D3121): that failure is described in its place,
    // its values withheld in turn, rather than lost whole (a refusal of the worker's, `$error()`'s text).
    const replacement = insert === 'value' && error.code === EVAL_FAILURE && error.error !== undefined ? describeJsonataError(error.error, { withholdValues: true }) : WITHHELD_VALUE;
    text = text.replace(new RegExp(`(?<![\\w.])${escapeRegExp(rendered)}(?![\\w.])`, 'g'), () => replacement);
  }
  return text;
}

/** The code of a failure of the expression `$eval` ran; the failure itself is the error's `error`. */
const EVAL_FAILURE = 'D3121';

/**
 * Describes a JSONata failure with its code, position and message. `withholdValues` is for failures on an event:
 * several of JSONata's messages quote the value that failed ("Unable to cast value to a number: \"jane@example.com\""),
 * which is the event's payload, and payloads are never logged, traced or stored in `last_error` (README,
 * Observability). A compile failure quotes only the expression, which is the operator's, so it keeps them.
 * A `$error()`/`$assert()` message is the route author's own text and is kept as written.
 */
export function describeJsonataError(error: unknown, { withholdValues = false }: { withholdValues?: boolean } = {}): string {
  if (isJsonataErrorObject(error)) {
    const message = error.message ?? 'error';
    const where = typeof error.position === 'number' ? ` at ${error.position}` : '';
    return `JSONata ${error.code}${where}: ${withholdValues ? withoutValues(error, message) : message}`;
  }
  return error instanceof Error ? `JSONata: ${error.message}` : `JSONata: ${String(error)}`;
}
