import { z } from 'zod';
import { unexpandedReferenceProblem } from '../../shared/config/unexpanded-reference.js';

/** RFC 9110 `token`: what a field name is made of. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * RFC 9110 field-value characters: visible ASCII, space, tab and obs-text (0x80-0xFF). CR, LF and NUL (and other
 * control characters, or characters beyond 0xFF) cannot be sent: undici refuses such a request on every attempt.
 */
const FIELD_VALUE_CHARACTERS = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Headers that describe the connection or the message framing, which the HTTP client sets from the request itself.
 * A static value could only contradict it (a Content-Length that never matches the body) or be refused by the
 * client (Transfer-Encoding, Keep-Alive, Upgrade), so every delivery would fail.
 */
const CONNECTION_AND_FRAMING_HEADERS: ReadonlySet<string> = new Set(['connection', 'content-length', 'transfer-encoding', 'host', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);

/** Why a static header cannot be sent as written, or undefined. Never quotes the value: it may be a credential. */
function staticHeaderProblem(name: string, value: string): string | undefined {
  if (!FIELD_NAME.test(name)) return 'is not an HTTP header name (letters, digits and !#$%&\'*+.^_`|~- only; no spaces or colons)';
  if (CONNECTION_AND_FRAMING_HEADERS.has(name.toLowerCase())) return 'is a connection or framing header, which the HTTP client sets from the request itself: it cannot be a static header (nor can Connection, Content-Length, Transfer-Encoding, Host, Keep-Alive, Upgrade, TE, Trailer, Expect)';
  if (/[\r\n]/.test(value)) return 'value contains a line break (a YAML block scalar such as `Authorization: |` keeps a trailing newline: write the value on one line)';
  if (!FIELD_VALUE_CHARACTERS.test(value)) return 'value contains a character a header cannot carry (a control character such as NUL, or one beyond U+00FF)';
  // Refused rather than trimmed: the value sent should be the value written.
  if (/^[\t ]|[\t ]$/.test(value)) return 'value starts or ends with a space or tab (HTTP would strip it)';
  const reference = unexpandedReferenceProblem(value);
  if (reference) return `value ${reference}`;
  return undefined;
}

/**
 * A destination's static `headers`: name → value, each one HTTP can carry (they are also AMQP and NATS message
 * headers, whose receivers often hand them on over HTTP). A problem names the header, not its value.
 */
export const staticHeadersSchema = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const problem = staticHeaderProblem(name, value);
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
    // Names are case-insensitive: two naming one header would send it twice, with either value read.
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: `names the same header as "${first}" (header names are case-insensitive)` });
    else seen.set(name.toLowerCase(), name);
  }
});
