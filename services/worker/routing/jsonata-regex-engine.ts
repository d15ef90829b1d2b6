import { compileLinearRegex, type LinearRegex } from './linear-regex.js';

/**
 * Expressions already compiled, by the RegExp JSONata's parser made of a regex literal. JSONata constructs its
 * regex engine anew each time the literal is evaluated (once per event), always from that same RegExp: compiling it
 * once for RE2 keeps the cost per event to the match. Weak, so a transform that is dropped takes its entries along.
 */
const compiledLiterals = new WeakMap<RegExp, LinearRegex>();

/**
 * The `RegexEngine` JSONata is given (`jsonata(expression, { RegexEngine })`), so that `$match`, `$replace`,
 * `$contains` and `$split` with a regex literal match on RE2 in linear time rather than on JavaScript's backtracking
 * engine. JSONata uses only what this implements: `new RegexEngine(regExpFromTheLiteral)` (flags `g` and any of `i`,
 * `m`), then `lastIndex` and `exec` as on a global RegExp.
 */
export class LinearRegexEngine {
  /** Where the next `exec` of a global expression starts, and where the last match ended, as on a RegExp. */
  lastIndex = 0;
  readonly source: string;
  readonly flags: string;
  readonly global: boolean;
  private readonly regex: LinearRegex;

  /** @throws as {@link compileLinearRegex} does, for an expression RE2 cannot run (a backreference, a lookaround). */
  constructor(pattern: RegExp | string, flags?: string) {
    this.source = pattern instanceof RegExp ? pattern.source : String(pattern);
    this.flags = flags ?? (pattern instanceof RegExp ? pattern.flags : '');
    this.global = this.flags.includes('g');
    // `g` is this object's business (lastIndex); the rest are the expression's.
    const compile = () => compileLinearRegex(this.source, this.flags.replace('g', ''));
    if (pattern instanceof RegExp && flags === undefined) {
      let regex = compiledLiterals.get(pattern);
      if (!regex) compiledLiterals.set(pattern, (regex = compile()));
      this.regex = regex;
    } else {
      this.regex = compile();
    }
  }

  /** RegExp's `exec`: the match (with its groups, unmatched ones undefined) and its index, or null; a global expression starts at, and moves, `lastIndex`. */
  exec(input: string): RegExpExecArray | null {
    const text = String(input);
    const start = this.global ? this.lastIndex : 0;
    const matcher = this.regex.matcher(text);
    if (start > text.length || !matcher.find(start)) {
      if (this.global) this.lastIndex = 0;
      return null;
    }
    const groups: (string | undefined)[] = [];
    for (let group = 0; group <= matcher.groupCount(); group++) groups.push(matcher.group(group) ?? undefined);
    const match = Object.assign(groups, { index: matcher.start(), input: text, groups: undefined }) as unknown as RegExpExecArray;
    if (this.global) this.lastIndex = matcher.end();
    return match;
  }
}
