import jsonata from 'jsonata';
import { jsonExceeds } from './json-size-floor.js';

/**
 * Bounded stand-ins for the JSONata functions that build a huge string from a small input in one step, registered on
 * each compiled transform. JSONata's time limit is checked between its steps, so one step runs to the end whatever it
 * allocates: `$pad("x", 300000000)` held ~900 MB for 7.5 s, past the worker's memory limit, and the event's retries
 * killed each worker that took it. Each refuses a result longer than `limit` characters (each character is at least
 * one byte of the body, so a longer string could not be sent whole) before allocating it, and otherwise answers as
 * JSONata's own function does. The message names the limit, never the size asked for (which may come from the
 * payload). Functions whose result is at most a small multiple of their input are left to the time limit.
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

  // $string writes structures with JSON.stringify: one shared array written a million times over is one step.
  expression.registerFunction(
    'string',
    async (value: unknown, prettify?: boolean) => {
      if (typeof value !== 'string' && jsonExceeds(value, limit)) refuse('$string');
      return (await builtInString).implementation(value, prettify);
    },
    '<x-b?:s>',
  );
}

/** A string's Unicode code points, which is how JSONata's $pad counts a width (an emoji is one). */
function codePoints(text: string): string[] {
  return Array.from(text);
}

/** JSONata's own $string (number formatting and all), which the bounded one calls once the size is known to fit. */
const builtInString = jsonata('$string').evaluate({}) as Promise<{ implementation: (value: unknown, prettify?: boolean) => string }>;
