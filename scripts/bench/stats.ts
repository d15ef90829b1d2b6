/** Percentiles of a sample (nearest-rank), in the sample's unit, rounded to 0.1. */
export interface Percentiles {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  let sum = 0;
  for (const value of sorted) sum += value;
  const round = (value: number) => Math.round(value * 10) / 10;
  return { count: n, mean: round(sum / n), p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(sorted[n - 1]!) };
}

/** A growable Float64 buffer (latencies of 100k+ requests without boxing each number). */
export class Samples {
  private buffer = new Float64Array(1 << 16);
  private length = 0;

  push(value: number): void {
    if (this.length === this.buffer.length) {
      const bigger = new Float64Array(this.buffer.length * 2);
      bigger.set(this.buffer);
      this.buffer = bigger;
    }
    this.buffer[this.length++] = value;
  }

  values(): Float64Array {
    return this.buffer.subarray(0, this.length);
  }
}
