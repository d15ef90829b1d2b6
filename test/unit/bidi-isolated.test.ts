import { describe, expect, it } from '@jest/globals';
import { bidiIsolated, isolatable } from '../../services/shared/text/bidi-isolated.js';

const FSI = '\u2068';
const PDI = '\u2069';

describe('bidiIsolated: a destination error put into the last error line', () => {
  it('leaves text without direction characters as it is, right-to-left letters included', () => {
    expect(bidiIsolated('HTTP 500: upstream refused')).toBe('HTTP 500: upstream refused');
    expect(bidiIsolated('HTTP 500: שגיאה')).toBe('HTTP 500: שגיאה');
    expect(bidiIsolated(null)).toBeNull();
  });

  it('puts text with an override between U+2068 and U+2069', () => {
    expect(bidiIsolated('refused \u202E by hook')).toBe(`${FSI}refused \u202E by hook${PDI}`);
  });

  it('takes out a U+2069 it did not open, and keeps the ones closing its own isolates', () => {
    expect(bidiIsolated('a\u2069\u202Eb')).toBe(`${FSI}a\u202Eb${PDI}`);
    expect(bidiIsolated('a\u2067x\u2069\u2069\u202Eb')).toBe(`${FSI}a\u2067x\u2069\u202Eb${PDI}`);
  });

  it('closes an isolate the text opens and leaves open, so that the last U+2069 closes its own (the rest of the line stays outside)', () => {
    // Unclosed, the isolate initiator took the U+2069 meant for the one around the text: that one stayed open to the
    // end of the line, and the rest of lastError (the other destinations' errors) was laid out inside it, in the
    // direction the first strong letter after it chose (an RTL letter in the next error turned the line's order round).
    expect(bidiIsolated('a\u2067\u202Eb')).toBe(`${FSI}a\u2067\u202Eb${PDI}${PDI}`);
    expect(bidiIsolated('\u2066\u2068x\u2069y')).toBe(`${FSI}\u2066\u2068x\u2069y${PDI}${PDI}`);
    // Counted as the algorithm counts them: an unmatched U+2069 taken out does not close one opened after it.
    expect(bidiIsolated('a\u2069\u2067b')).toBe(`${FSI}a\u2067b${PDI}${PDI}`);
  });

  it('shows a paragraph separator, which would end the isolate, as a space', () => {
    expect(bidiIsolated('a\u2029\u202Eb')).toBe(`${FSI}a \u202Eb${PDI}`);
  });

  it("isolatable (the console's <bdi> content too): what would end the isolate around it taken out, what it leaves open closed", () => {
    expect(isolatable('HTTP 500: \u202E refused')).toBe('HTTP 500: \u202E refused');
    expect(isolatable('a\u2069b\u2029c')).toBe('ab c');
    expect(isolatable('\u05D0\u2067x')).toBe(`\u05D0\u2067x${PDI}`);
  });
});
