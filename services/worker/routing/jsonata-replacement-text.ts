/** A match as JSONata's regex matchers report it to `$replace`: the matched text, where it starts, its groups. */
export interface JsonataMatch {
  match: string;
  start: number;
  groups: (string | undefined)[];
}

/**
 * The text JSONata's `$replace` puts in place of one regex match for a string replacement: `$0` is the match, `$n`
 * its n-th group (as many digits as the group count has, fewer when that names no group), `$$` a `$`, and a `$` not
 * followed by a digit stays a `$`. This is JSONata's own algorithm (jsonata 2.x, `replace`'s `replacer`), rewritten
 * so the bounded `$replace` can count the text as it builds it: `stop` is called with the length built so far before
 * each piece is added, and throws to stop a substitute that would grow past the limit (`"$0$0…$0"` a thousand times
 * over a long match is one substitute of a thousand matches' length).
 */
export function replacementText(replacement: string, regexMatch: JsonataMatch, stop: (length: number) => void): string {
  let substitute = '';
  const add = (piece: string | undefined): void => {
    if (piece === undefined || piece.length === 0) return;
    stop(substitute.length + piece.length);
    substitute += piece;
  };
  let position = 0;
  let index = replacement.indexOf('$', position);
  while (index !== -1 && position < replacement.length) {
    add(replacement.substring(position, index));
    position = index + 1;
    const dollarVal = replacement.charAt(position);
    if (dollarVal === '$') {
      add('$');
      position++;
    } else if (dollarVal === '0') {
      add(regexMatch.match);
      position++;
    } else {
      const groupCount = regexMatch.groups.length;
      // With no groups any `$` followed by a digit is replaced by nothing; otherwise up to the count's digits.
      const maxDigits = groupCount === 0 ? 1 : Math.floor(Math.log(groupCount) * Math.LOG10E) + 1;
      index = parseInt(replacement.substring(position, position + maxDigits), 10);
      if (maxDigits > 1 && index > groupCount) index = parseInt(replacement.substring(position, position + maxDigits - 1), 10);
      if (!isNaN(index)) {
        if (groupCount > 0) add(regexMatch.groups[index - 1]);
        position += index.toString().length;
      } else {
        add('$');
      }
    }
    index = replacement.indexOf('$', position);
  }
  add(replacement.substring(position));
  return substitute;
}
