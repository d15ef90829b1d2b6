import { describe, expect, it } from '@jest/globals';
import { bidiIsolated } from '../../services/shared/text/bidi-isolated.js';

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

  it('shows a paragraph separator, which would end the isolate, as a space', () => {
    expect(bidiIsolated('a\u2029\u202Eb')).toBe(`${FSI}a \u202Eb${PDI}`);
  });
});
