import { isUtf8 } from 'node:buffer';
import { MAX_IDENTIFIER_LENGTH } from '../../shared/database/identifier-length.js';
import { exponentNumberGrowth } from './json-number-growth.js';
import { closingQuoteOf } from './json-string-end.js';
import { WebhookPayloadError } from './verification-errors.js';

export type JsonObject = Record<string, unknown>;

/**
 * After strict UTF-8 decoding, a NUL character or a lone surrogate can only enter a parsed value through a
 * `\u0000` or `\uD800`–`\uDFFF` escape. PostgreSQL jsonb rejects both, so only texts containing such an escape
 * take the (slow) sanitising walk; everything else is a plain JSON.parse.
 */
const NEEDS_SANITIZING = /\\u(?:0000|[dD][89a-fA-F])/;

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Deepest nesting of objects and arrays accepted. PostgreSQL parses jsonb recursively and refuses a document nested
 * beyond its stack (`54001 stack depth limit exceeded`, at about 15,000 levels with the default 2 MB
 * `max_stack_depth`, about 700 with its 100 kB minimum); such a body passed JSON.parse and then failed its INSERT
 * (and, batched, its neighbours'). Real webhooks nest a few levels; 512 fits any `max_stack_depth`.
 */
export const MAX_JSON_DEPTH = 512;

/**
 * How many characters longer than its body a payload may read back from jsonb because of numbers in exponent
 * notation (json-number-growth.ts: `1e300` reads back as 301 characters): as many as the body has, and at least this
 * many for a small body. A stored payload thus reads back at most about twice as long as its body, or its body and
 * 64 Ki characters, while real numbers in exponent notation fit many times over (`1.5e-7` grows by 4, a double's
 * largest value, `1.7976931348623157e308`, by 286).
 */
export const MIN_NUMBER_GROWTH_ALLOWANCE = 65_536;

interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * Parses a webhook body that must be a JSON object.
 * - strips a UTF-8 byte order mark; rejects other encodings (UTF-16 BOM, invalid UTF-8) with UNSUPPORTED_ENCODING;
 * - bad JSON → MALFORMED_JSON; arrays and scalars → PAYLOAD_NOT_AN_OBJECT; deeper than MAX_JSON_DEPTH →
 *   PAYLOAD_TOO_DEEP; numbers in exponent notation that jsonb would write back longer than the body allows (see
 *   MIN_NUMBER_GROWTH_ALLOWANCE) → NUMBERS_TOO_LONG;
 * - every NUL (`\u0000`) and lone surrogate in keys and string values is replaced by U+FFFD so the value can be
 *   stored in PostgreSQL jsonb.
 */
export function parseJsonPayload(raw: Buffer | string): JsonObject {
  const text = decodeText(raw);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new WebhookPayloadError('MALFORMED_JSON', undefined, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WebhookPayloadError('PAYLOAD_NOT_AN_OBJECT');
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw new WebhookPayloadError('PAYLOAD_TOO_DEEP');
  if (exponentNumberGrowth(text) > Math.max(text.length, MIN_NUMBER_GROWTH_ALLOWANCE)) {
    throw new WebhookPayloadError('NUMBERS_TOO_LONG');
  }
  if (NEEDS_SANITIZING.test(text)) sanitizeInPlace(value);
  return value as JsonObject;
}

/**
 * Whether valid JSON `text` opens more than `limit` objects and arrays inside one another: brackets counted outside
 * strings, in one pass over the text (a body far shorter than twice the limit cannot, and is not read).
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (text.length <= 2 * limit) return false;
  // Nor can a text with at most `limit` brackets that open, wherever they are (in strings too): counted with indexOf,
  // a native scan, this settles every ordinary body without the character-by-character walk below.
  if (!hasMoreThan(text, '{', '[', limit)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: on to its closing quote.
      const end = closingQuoteOf(text, i);
      if (end === -1) return false;
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** Whether `text` holds more than `limit` occurrences of `a` and `b` together. */
function hasMoreThan(text: string, a: string, b: string, limit: number): boolean {
  let count = 0;
  for (const character of [a, b]) {
    for (let at = text.indexOf(character); at !== -1; at = text.indexOf(character, at + 1)) {
      if (++count > limit) return true;
    }
  }
  return false;
}

function decodeText(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  let start = 0;
  if (raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) {
    start = 3;
  } else if (raw.length >= 2 && ((raw[0] === 0xfe && raw[1] === 0xff) || (raw[0] === 0xff && raw[1] === 0xfe))) {
    throw new WebhookPayloadError('UNSUPPORTED_ENCODING');
  }
  if (!isUtf8(raw)) throw new WebhookPayloadError('UNSUPPORTED_ENCODING');
  return raw.toString('utf8', start);
}

/** Replaces NUL and lone surrogates by U+FFFD; returns the same string when nothing needs replacing. */
export function sanitizeJsonString(value: string): string {
  let result = value.includes('\u0000') ? value.replaceAll('\u0000', REPLACEMENT_CHARACTER) : value;
  const wellFormed = result as unknown as WellFormedString;
  if (!wellFormed.isWellFormed()) result = wellFormed.toWellFormed();
  return result;
}

function defineOwn(target: JsonObject, key: string, value: unknown): void {
  // defineProperty (not assignment) so a "__proto__" key stays an ordinary own property.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Iterative (no recursion: a 1 MiB body can nest ~500k levels deep) in-place walk. */
function sanitizeInPlace(root: object): void {
  const stack: object[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (Array.isArray(node)) {
      const array = node as unknown[];
      for (let i = 0; i < array.length; i++) {
        const item = array[i];
        if (typeof item === 'string') {
          const fixed = sanitizeJsonString(item);
          if (fixed !== item) array[i] = fixed;
        } else if (typeof item === 'object' && item !== null) {
          stack.push(item);
        }
      }
      continue;
    }
    const object = node as JsonObject;
    const keys = Object.keys(object);
    let renameKeys = false;
    for (const key of keys) {
      const item = object[key];
      if (typeof item === 'string') {
        const fixed = sanitizeJsonString(item);
        if (fixed !== item) defineOwn(object, key, fixed);
      } else if (typeof item === 'object' && item !== null) {
        stack.push(item);
      }
      if (!renameKeys && sanitizeJsonString(key) !== key) renameKeys = true;
    }
    if (renameKeys) {
      // Rebuild to keep the key order; a key colliding after replacement keeps the later value (as JSON.parse does).
      const entries = keys.map((key) => [sanitizeJsonString(key), object[key]] as const);
      for (const key of keys) delete object[key];
      for (const [key, item] of entries) defineOwn(object, key, item);
    }
  }
}

/** Splits a dot path ('data.object.id') once, at configuration time. */
export function splitFieldPath(path: string): readonly string[] {
  const segments = path.split('.');
  if (segments.some((segment) => segment === '')) throw new Error(`Invalid field path '${path}'`);
  return segments;
}

/** A step that indexes an array: a decimal index without leading zeros (so never `length` or a method). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Reads a path of own properties and array indexes (`items.0.id`, as a ROUTES_FILE filter reads it) from a parsed
 * payload; undefined when any step is missing, out of range, or into a scalar.
 */
export function getField(payload: unknown, path: readonly string[]): unknown {
  let current: unknown = payload;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(segment)) return undefined;
      const index = Number(segment);
      if (index >= current.length) return undefined;
      current = current[index] as unknown;
      continue;
    }
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as JsonObject)[segment];
  }
  return current;
}

function isUsableIdentifier(value: string): boolean {
  return value.length <= MAX_IDENTIFIER_LENGTH && value.trim() !== '';
}

/** A non-empty string (≤ 255 chars) or a safe integer (converted to its decimal string); else undefined. */
export function readEventId(value: unknown): string | undefined {
  if (typeof value === 'string') return isUsableIdentifier(value) ? value : undefined;
  // Integers beyond 2^53 have already lost precision in JSON.parse: two events could collide, so refuse them.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** A non-empty string (≤ 255 chars); else undefined. */
export function readEventType(value: unknown): string | undefined {
  return typeof value === 'string' && isUsableIdentifier(value) ? value : undefined;
}

/**
 * Like {@link readEventId} but throws WebhookPayloadError('MISSING_EVENT_ID'); `source` names where it was looked for.
 * An id holding U+FFFD throws UNSTORABLE_EVENT_ID: parseJsonPayload writes U+FFFD for each NUL and lone surrogate
 * (which PostgreSQL cannot store) before the id is read, so `evt_\u0000`, `evt_\ud800` and `evt_\udfff` all read as
 * `evt_\uFFFD`: stored under it, each after the first would be answered as a duplicate of the first and never stored
 * (acknowledged, so never retried). The id read here can no longer tell a sent U+FFFD from a replaced character, so
 * every id holding one is refused; real providers' ids are ASCII.
 */
export function requireEventId(value: unknown, source: string): string {
  if (typeof value === 'string' && value.includes(REPLACEMENT_CHARACTER)) {
    throw new WebhookPayloadError(
      'UNSTORABLE_EVENT_ID',
      `Webhook event id must not hold a NUL, a lone surrogate or U+FFFD, what those are stored as (${source})`,
    );
  }
  const id = readEventId(value);
  if (id === undefined) {
    throw new WebhookPayloadError('MISSING_EVENT_ID', `Webhook event id is missing or invalid (${source})`);
  }
  return id;
}

/** Like {@link readEventType} but throws WebhookPayloadError('MISSING_EVENT_TYPE'). */
export function requireEventType(value: unknown, source: string): string {
  const type = readEventType(value);
  if (type === undefined) {
    throw new WebhookPayloadError('MISSING_EVENT_TYPE', `Webhook event type is missing or invalid (${source})`);
  }
  return type;
}
