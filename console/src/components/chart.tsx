import { formatNumber, formatTime } from '../format.js';

export interface ChartProps {
  title: string;
  /** One value per step, oldest first; null: no data for that step (a gap). */
  values: (number | null)[];
  from: string;
  stepSeconds: number;
  /** CSS modifier for the colour (`received`, `completed`, `dead`, `queue`). */
  tone: string;
  /** What one value counts, for the spoken summary ("events per minute"). */
  unit: string;
}

const WIDTH = 320;
const HEIGHT = 96;
const TOP = 14;
const BOTTOM = 18;

/**
 * A small area chart, drawn as SVG (no canvas, no library): crisp at any zoom, styled by the page's CSS, and
 * described for screen readers by its label (total, peak and when, latest).
 */
export function Chart({ title, values, from, stepSeconds, tone, unit }: ChartProps) {
  const known = values.filter((value): value is number => value !== null);
  const max = Math.max(1, ...known);
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (index: number) => (values.length <= 1 ? 0 : (index / (values.length - 1)) * WIDTH);
  const y = (value: number) => TOP + plotHeight - (value / max) * plotHeight;
  const start = new Date(from).getTime();
  const at = (index: number) => start + index * stepSeconds * 1000;

  // One path per run of known values, so a gap stays a gap.
  const runs: { index: number; value: number }[][] = [];
  values.forEach((value, index) => {
    if (value === null) return;
    const run = runs.at(-1);
    if (run && run.at(-1)!.index === index - 1) run.push({ index, value });
    else runs.push([{ index, value }]);
  });
  const line = (run: { index: number; value: number }[]) => run.map((point, i) => `${i === 0 ? 'M' : 'L'}${x(point.index).toFixed(1)},${y(point.value).toFixed(1)}`).join('');
  const area = (run: { index: number; value: number }[]) =>
    `${line(run)}L${x(run.at(-1)!.index).toFixed(1)},${TOP + plotHeight}L${x(run[0]!.index).toFixed(1)},${TOP + plotHeight}Z`;

  const total = known.reduce((sum, value) => sum + value, 0);
  const peak = known.length > 0 ? Math.max(...known) : 0;
  const peakIndex = values.indexOf(peak);
  const latest = [...values].reverse().find((value) => value !== null);
  const summary =
    known.length === 0
      ? `${title}: no data yet.`
      : `${title}, ${unit}, from ${formatTime(at(0))} to ${formatTime(at(values.length - 1))}: ` +
        `total ${formatNumber(total)}, peak ${formatNumber(peak)} at ${formatTime(at(peakIndex))}, latest ${formatNumber(latest ?? 0)}.`;

  return (
    <figure class={`chart chart--${tone}`}>
      <figcaption class="chart__title">
        <span>{title}</span>
        <span class="chart__latest" aria-hidden="true">
          {latest === undefined ? '—' : formatNumber(latest)}
        </span>
      </figcaption>
      <svg class="chart__svg" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={summary} preserveAspectRatio="none">
        <line class="chart__grid" x1="0" x2={WIDTH} y1={TOP} y2={TOP} />
        <line class="chart__axis" x1="0" x2={WIDTH} y1={TOP + plotHeight} y2={TOP + plotHeight} />
        {runs.map((run, index) => (
          <g key={index}>
            <path class="chart__area" d={area(run)} />
            <path class="chart__line" d={line(run)} />
          </g>
        ))}
      </svg>
      <div class="chart__scale" aria-hidden="true">
        <span>{formatTime(at(0))}</span>
        <span>max {formatNumber(peak)}</span>
        <span>{formatTime(at(values.length - 1))}</span>
      </div>
    </figure>
  );
}

/** Bars of success (and failure) per bucket: a destination's last hour at a glance. */
export function SuccessBars({ buckets, label }: { buckets: { attempts: number; succeeded: number }[]; label: string }) {
  const max = Math.max(1, ...buckets.map((bucket) => bucket.attempts));
  const width = 6;
  const gap = 2;
  const height = 28;
  return (
    <svg class="bars" viewBox={`0 0 ${buckets.length * (width + gap)} ${height}`} width={buckets.length * (width + gap)} height={height} role="img" aria-label={label}>
      {buckets.map((bucket, index) => {
        const total = (bucket.attempts / max) * height;
        const ok = (bucket.succeeded / max) * height;
        return (
          <g key={index}>
            <rect class="bars__empty" x={index * (width + gap)} y={height - 1} width={width} height={1} />
            <rect class="bars__failed" x={index * (width + gap)} y={height - total} width={width} height={total - ok} />
            <rect class="bars__ok" x={index * (width + gap)} y={height - ok} width={width} height={ok} />
          </g>
        );
      })}
    </svg>
  );
}
