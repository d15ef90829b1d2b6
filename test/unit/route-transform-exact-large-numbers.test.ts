/**
 * Review of bf36fa2 (refuse to send an integer beyond 2^53 "read rounded from the payload"). The rule refuses any
 * result value whose magnitude is beyond 2^53 once the payload holds one, whether or not the parse rounded it. A
 * sender that writes its numbers from doubles (any JavaScript sender, Python floats) only ever sends numbers that
 * JSON.parse reads exactly and JSON.stringify writes back with the same value. Observed (jsonb text as the reader
 * gets it from `payload::text`):
 * - `{"ts_ns":1764619200123000000}` (Date.now() * 1e6 from a Node sender), transform `{ "ts": ts_ns }`: refused
 *   ("integer beyond 2^53 at $.ts"), though JSON.stringify would send `1764619200123000000`, the very digits received.
 *   Before bf36fa2 it was sent, and correctly.
 * - `{"mass":6.02e23}` stored by jsonb as `602000000000000000000000`, transform `{ "m": mass }`: refused as an
 *   "integer beyond 2^53" although it is a float the provider wrote as 6.02e23 and 6.02e+23 is what would be sent.
 * The parse rounded nothing in either case (Number(text) written back gives the received digits / value), so the
 * README's promise ("a transform never sends them silently changed"; "fails instead of sending it changed") is kept
 * by refusing numbers that would not change. What a precise rule would check: whether the double's own decimal
 * writing has the value of the payload's digits, not only its magnitude.
 */
import { describe, expect, it } from '@jest/globals';
import { compileRouteTransform } from '../../services/worker/routing/route-transform.js';
import { payloadHoldsRoundedIntegers } from '../../services/worker/routing/unsafe-integers.js';

const bindings = { id: 'uuid-1', provider: 'svix', eventType: 'reading.created', headers: {} };

/** The reader's path: jsonb's text, parsed, and the fact computed from both; then the transform. */
async function sendOrError(payloadText: string, expression: string): Promise<string> {
  const payload = JSON.parse(payloadText) as unknown;
  const holdsRoundedIntegers = payloadHoldsRoundedIntegers(payloadText);
  return compileRouteTransform(expression)(payload, bindings, { holdsRoundedIntegers }).then(
    (body) => body.toString('utf8'),
    (error: Error) => `refused: ${error.message}`,
  );
}

describe('transforms over payloads whose large numbers the parse read exactly', () => {
  it('a nanosecond timestamp a JavaScript sender wrote (an exact double) is sent as received', async () => {
    // As jsonb writes it back (payload::text): the same digits as sent.
    const text = '{"ts_ns": 1764619200123000000, "id": "msg_2Kx"}';
    expect(String(JSON.parse(text).ts_ns)).toBe('1764619200123000000'); // nothing rounded
    // Observed: 'refused: JSONata: the transform's result holds an integer beyond 2^53 at $.ts, …'
    expect(await sendOrError(text, '{ "ts": ts_ns }')).toBe('{"ts":1764619200123000000}');
  });

  it('a float in exponent notation (6.02e23, stored by jsonb as 24 digits) is sent with its value', async () => {
    const text = '{"mass": 602000000000000000000000}';
    // Observed: refused as "an integer beyond 2^53 at $.m".
    expect(await sendOrError(text, '{ "m": mass }')).toBe('{"m":6.02e+23}');
  });
});
