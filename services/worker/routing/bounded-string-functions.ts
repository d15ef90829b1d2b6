import type jsonata from 'jsonata';
import { jsonExceeds } from './json-size-floor.js';
import { jsonataBuiltIn } from './jsonata-built-in.js';
import { replacementText, type JsonataMatch } from './jsonata-replacement-text.js';
import { refuseRoundedIntegerText, type JsonataEnvironment } from './rounded-integer-text.js';

/**
 * Bounded stand-ins for the JSONata functions that build a huge string from a small input in one step, registered on
 * each compiled transform. JSONata's time limit is checked between its steps, so one step runs to the end whatever it
 * allocates: `$pad("x", 300000000)` held ~900 MB for 7.5 s, past the worker's memory limit, and the event's retries
 * killed each worker that took it. Each refuses a result longer than `limit` characters (each character is at least
 * one byte of the body, so a longer string could not be sent whole) before allocating it, and otherwise answers as
 * JSONata's own function does. The message names the limit, never the size asked for (which may come from the
 * payload). Functions whose result is at most a small multiple of their input ($encodeUrl, $base64encode, $uppercase:
 * at most 9 characters per character of a string that is itself bounded, see bounded-string-steps.ts) are left to it.
 */
export function registerBoundedStringFunctions(expression: jsonata.Expression, limit: number): void {
  const refuse = (name: string): never => {
    throw new Error(`${name} would build a string of over ${limit} characters, more than the largest body a transform may send (MAX_BODY_BYTES); nothing is built`);
  };

  // JSONata's $pad joins `char` |width| times before cutting it to length: width × char's length characters at once.
  expression.registerFunction(
    'pad',
    (str: string | undefined, width: number, char?: string) => {
      if (str === undefined) return undefined;
      const padLength = Math.abs(Math.trunc(width)) - codePoints(str).length;
      if (padLength <= 0) return str;
      if (str.length + padLength > limit) refuse('$pad');
      const unit = codePoints(char === undefined || char.length === 0 ? ' ' : char);
      const padding = unit.join('').repeat(Math.floor(padLength / unit.length)) + unit.slice(0, padLength % unit.length).join('');
      return width > 0 ? str + padding : padding + str;
    },
    '<s-ns?:s>',
  );

  // $join's result is the strings' lengths plus the separator's times their count: counted before joining.
  expression.registerFunction(
    'join',
    (strs: string[] | undefined, separator = '') => {
      if (strs === undefined) return undefined;
      let length = Math.max(strs.length - 1, 0) * separator.length;
      for (const str of strs) length += str.length;
      if (length > limit) refuse('$join');
      return strs.join(separator);
    },
    '<a<s>s?:s>',
  );

  // $replace puts the replacement in place of every match, so its result is the input's length times the
  // replacement's: `$replace(t, "x", $pad("", 500, "y"))` over 1 MiB of "x" built 524 million characters in 0.5 s,
  // a replacement of 250 `$0` per match exhausted 4 GB in one step. With a string pattern and a string (or any
  // non-function) replacement the result's length is counted before JSONata's own function builds it; with a regex
  // the text put in place of each match is counted as it is built, and the build stops past the limit.
  expression.registerFunction(
    'replace',
    async function (this: unknown, str: string | undefined, pattern: unknown, replacement: unknown, count?: number) {
      const builtIn = await builtInReplace;
      // JSONata's own refusals (an empty pattern, a negative limit) and its answer for no input come from it.
      if (str === undefined || pattern === '' || (count !== undefined && count < 0)) return builtIn.call(this, str, pattern, replacement, count);
      if (typeof pattern === 'string') {
        if (count === 0) return str;
        const text = String(replacement);
        let matches = 0;
        for (let index = str.indexOf(pattern); index !== -1 && (count === undefined || matches < count); index = str.indexOf(pattern, index + pattern.length)) matches++;
        if (str.length + matches * (text.length - pattern.length) > limit) refuse('$replace');
        return builtIn.call(this, str, pattern, replacement, count);
      }
      // Text built so far (what precedes the last match, and each match's substitute): it is never taken back.
      let built = 0;
      let position = 0;
      const stop = (length: number) => {
        if (built + length > limit) refuse('$replace');
      };
      const counted = async function (this: unknown, match: JsonataMatch): Promise<unknown> {
        built += match.start - position;
        position = match.start + match.match.length;
        const substitute = typeof replacement === 'string'
          ? replacementText(replacement, match, stop)
          : await (replacement as { apply: (self: unknown, args: unknown[]) => unknown }).apply(this, [match]);
        if (typeof substitute === 'string') {
          stop(substitute.length);
          built += substitute.length;
        }
        return substitute;
      };
      const result = (await builtIn.call(this, str, pattern, counted, count)) as string;
      if (result.length > limit) refuse('$replace');
      return result;
    },
    '<s-(sf)(sf)n?:s>',
  );

  // $string writes structures with JSON.stringify: one shared array written a million times over is one step. Nor
  // may it write a rounded integer of the payload's (rounded-integer-text.ts), checked once the size is known to fit.
  expression.registerFunction(
    'string',
    // (`prettify` defaults as in JSONata's own, so the function counts one parameter: $map passes it one argument.)
    async function (this: { environment?: JsonataEnvironment }, value: unknown, prettify = false) {
      if (typeof value !== 'string' && jsonExceeds(value, limit)) refuse('$string');
      refuseRoundedIntegerText('$string', value, this.environment);
      return (await builtInString)(value, prettify);
    },
    '<x-b?:s>',
  );
}

/** A string's Unicode code points, which is how JSONata's $pad counts a width (an emoji is one). */
function codePoints(text: string): string[] {
  return Array.from(text);
}

/** JSONata's own $replace (its errors, matching and limit), which the bounded one calls with the sizes counted. */
const builtInReplace = jsonataBuiltIn<(this: unknown, ...args: unknown[]) => Promise<string | undefined>>('replace');

/** JSONata's own $string (number formatting and all), which the bounded one calls once the size is known to fit. */
const builtInString = jsonataBuiltIn<(value: unknown, prettify?: boolean) => string>('string');
