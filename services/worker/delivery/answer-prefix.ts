import type { Readable } from 'node:stream';

/**
 * The first `maxBytes` of an answer's body, as text (UTF-8; a character cut at the end shows as U+FFFD). Reading stops
 * there and the body is destroyed, which closes its connection: a destination answering with a huge or endless body
 * neither fills this worker's memory nor holds the attempt until its timeout. A body that ends within `maxBytes` is
 * read to its end, so its connection stays reusable. A read that fails midway (a reset, the attempt's deadline) keeps
 * what came before it.
 */
export async function readAnswerPrefix(body: Readable, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      const kept = chunk.subarray(0, maxBytes - length);
      chunks.push(kept);
      length += kept.length;
      if (length >= maxBytes) break;
    }
  } catch {
    // What was read is still the best account of the answer.
  } finally {
    if (!body.readableEnded) body.destroy();
  }
  return Buffer.concat(chunks, length).toString('utf8');
}
