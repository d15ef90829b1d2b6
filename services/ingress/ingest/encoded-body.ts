import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { DECODER_BYTES, type BodyMemoryBudget } from './body-memory-budget.js';

/** Why an encoded body was not read. */
export type EncodedBodyRefusal =
  /** A `Content-Encoding` the route cannot decode (415). */
  | 'unsupported_encoding'
  /** More than the limit, sent or inflated (413). */
  | 'too_large'
  /** What it inflated to would pass the process's body budget (503). */
  | 'over_budget'
  /** Not what its encoding says: the decoder failed (400). */
  | 'malformed'
  /** The client went away mid-body. */
  | 'aborted';

export type EncodedBodyResult = { body: Buffer } | { refusal: EncodedBodyRefusal; cause?: unknown };


const DECODABLE = new Set(['gzip', 'deflate', 'br', ...('createZstdDecompress' in zlib ? ['zstd'] : [])]);

/** The decoders body-parser offered (it read these bodies before): those, and only those, are read. */
function decoderFor(encoding: string): Transform | undefined {
  switch (encoding) {
    case 'gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return zlib.createZstdDecompress();
    default:
      return undefined;
  }
}

/**
 * Reads and decodes a body sent with `Content-Encoding` (lower-cased `encoding`, not `identity`). Read here, not by
 * body-parser, because what a body inflates to is what is held, and body-parser holds it out of sight: every inflated
 * chunk is taken from `budget` as it comes and given back when the body is done, however that happens. The sent
 * bytes and the inflated ones are each limited to `maxBytes`, and held on `client`'s share of the budget when one is
 * given. `done` is called once; a refused body's request is left to the caller's answer (which closes the connection).
 */
export function readEncodedBody(
  req: IncomingMessage,
  options: { encoding: string; maxBytes: number; budget: BodyMemoryBudget; client?: string },
  done: (result: EncodedBodyResult) => void,
): void {
  if (!DECODABLE.has(options.encoding)) return done({ refusal: 'unsupported_encoding' });
  // The decoder's own memory is held for as long as the body takes, too: taken before it is made.
  if (!options.budget.take(DECODER_BYTES, options.client)) return done({ refusal: 'over_budget' });
  const decoder = decoderFor(options.encoding)!;
  const chunks: Buffer[] = [];
  let sent = 0;
  let inflated = 0;
  let held = DECODER_BYTES;
  let settled = false;

  const settle = (result: EncodedBodyResult) => {
    if (settled) return;
    settled = true;
    options.budget.release(held, options.client);
    req.off('data', onSent);
    req.off('error', onAborted);
    req.off('close', onClosed);
    req.unpipe(decoder);
    decoder.destroy();
    if ('refusal' in result) {
      chunks.length = 0;
      // Keep reading (and dropping) whatever still comes until the answer closes the connection.
      req.resume();
    }
    done(result);
  };
  const onSent = (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > options.maxBytes) settle({ refusal: 'too_large' });
  };
  const onAborted = (cause: unknown) => settle({ refusal: 'aborted', cause });
  // A request torn down without an error (its socket destroyed) must give its bytes back all the same.
  const onClosed = () => {
    if (!req.complete) onAborted(new Error('request closed mid-body'));
  };

  decoder.on('data', (chunk: Buffer) => {
    if (settled) return;
    if (inflated + chunk.length > options.maxBytes) return settle({ refusal: 'too_large' });
    if (!options.budget.take(chunk.length, options.client)) return settle({ refusal: 'over_budget' });
    inflated += chunk.length;
    held += chunk.length;
    chunks.push(chunk);
  });
  decoder.on('end', () => settle({ body: Buffer.concat(chunks, inflated) }));
  decoder.on('error', (cause) => settle({ refusal: 'malformed', cause }));
  req.on('data', onSent);
  req.on('error', onAborted);
  req.on('close', onClosed);
  req.pipe(decoder);
}
