/**
 * Whether a payload holds an integer beyond 2^53 is read from jsonb's text of it (unsafe-integers.ts). Digits inside a
 * string are no number, but the text was searched for a long run of digits after ':', ',' or '[' (and blanks), which
 * a string can hold as well as the JSON around it: a note "ref: 12345678901234567891, paid" made the payload count as
 * holding one. A transform whose result holds an integer beyond 2^53 of its own making (a nanosecond timestamp
 * computed from the payload's milliseconds, which JavaScript holds and writes exactly) was then refused on every
 * attempt, telling the operator the payload held integers it did not, and the event was dead-lettered.
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';
import { payloadHoldsRoundedIntegers } from '../../services/worker/routing/unsafe-integers.js';

// As jsonb writes a payload's text: a space after ':' and ','; a string's characters as they are (quotes and
// backslashes escaped).
const withNote = (note: string) => `{"note": ${JSON.stringify(note)}, "created_ms": 1764619200123}`;

describe('payloadHoldsRoundedIntegers: digits inside strings', () => {
  it.each([
    ['after a colon and a space', 'ref: 12345678901234567891, paid'],
    ['after a comma', 'ids 1,12345678901234567891'],
    ['in brackets', 'see [12345678901234567891]'],
    ['at the end of the string', 'order: 12345678901234567891'],
    ['after an escaped quote', 'said \\": 12345678901234567891, ok'],
    ['after an escaped backslash', 'path C:\\\\, 12345678901234567891 }'],
  ])('a string with a long number %s is no number of the payload', (_case, note) => {
    expect(payloadHoldsRoundedIntegers(withNote(note))).toBe(false);
  });

  it('still finds such a number outside strings, also after a string ending in an escaped backslash or holding a quote', () => {
    expect(payloadHoldsRoundedIntegers('{"note": "a: 1, b", "account": 12345678901234567891}')).toBe(true);
    expect(payloadHoldsRoundedIntegers('{"path": "C:\\\\", "account": 12345678901234567891}')).toBe(true);
    expect(payloadHoldsRoundedIntegers('{"quote": "\\"", "ids": [1, 12345678901234567891]}')).toBe(true);
    expect(payloadHoldsRoundedIntegers('[12345678901234567891]')).toBe(true);
    expect(payloadHoldsRoundedIntegers('{"n": 0.12345678901234567, "m": 3}')).toBe(false);
  });

  it('a transform computing a nanosecond timestamp over such a payload sends it', async () => {
    const text = withNote('ref: 12345678901234567891, paid');
    const transform = compileRouteTransform('{ "created_ns": created_ms * 1000000 }');
    const body = await transform(JSON.parse(text), { id: 'evt', provider: 'stripe', eventType: 'charge.succeeded', headers: {} }, { holdsRoundedIntegers: payloadHoldsRoundedIntegers(text) });
    expect(body.toString('utf8')).toBe('{"created_ns":1764619200123000000}');
  });
});
