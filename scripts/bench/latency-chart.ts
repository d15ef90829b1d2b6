/**
 * The `--sweep` chart: latency against throughput, written by hand as SVG (no chart library).
 *
 * x: accepted requests/s (linear, from 0); y: latency in ms (log scale: a sweep's latencies span from a few ms to
 * seconds). Two lines, p50 and p99, through the steps in the order they ran, each point marked and the p99 point
 * labelled with its step (`25%`, `max`); a dashed vertical line at the baseline rate; dashed horizontal lines at
 * the latency targets; title, axis labels and a legend. Step names are placed clear of each other (placeLabels).
 */

export interface LatencyChartPoint {
  /** The step's name, shown next to its p99 point (e.g. `50%`, `max`). */
  label: string;
  acceptedPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LatencyChartInput {
  title: string;
  /** A line of context under the title (wrapped when long). */
  subtitle?: string;
  points: LatencyChartPoint[];
  /** The vertical reference line, e.g. `{ perSec: 3120, label: 'pgbench baseline 3120/s' }`. */
  baseline?: { perSec: number; label: string };
  /** Horizontal target lines, in ms (default 10 and 50). */
  targetsMs?: number[];
  width?: number;
  height?: number;
}

const COLORS = { p50: '#1f77b4', p99: '#d62728', baseline: '#444444', target: '#2ca02c', grid: '#e4e4e4', axis: '#333333', text: '#222222', muted: '#666666' };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Coordinates with at most one decimal, no trailing zeros. */
const n = (value: number) => String(Math.round(value * 10) / 10);

/** A "nice" tick step (1, 2, 2.5 or 5 × 10^k) giving about `count` ticks over `span`. */
export function niceStep(span: number, count = 6): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * magnitude;
}

/** 1-2-5 ticks between two powers of ten. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.ceil(Math.log10(max)); exponent++) {
    for (const mantissa of [1, 2, 5]) {
      const value = mantissa * 10 ** exponent;
      if (value >= min * 0.999 && value <= max * 1.001) ticks.push(Number(value.toPrecision(6)));
    }
  }
  return ticks;
}

const formatMs = (value: number) => (value >= 1 ? String(Math.round(value)) : String(Number(value.toPrecision(2))));
const formatRate = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : String(value));

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface PlacedLabel {
  x: number;
  y: number;
  anchor: 'start' | 'middle' | 'end';
  box: Box;
}

const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/** The box of `text` at font size `size` drawn at (x, y) (baseline) with `anchor`: ~0.6 em per character. */
function textBox(x: number, y: number, anchor: PlacedLabel['anchor'], text: string, size: number): Box {
  const width = text.length * size * 0.6;
  const x0 = anchor === 'start' ? x : anchor === 'end' ? x - width : x - width / 2;
  return { x0, y0: y - size * 0.8, x1: x0 + width, y1: y + size * 0.25 };
}

/**
 * Places each label at the free spot nearest its point (above, right, left, below, then further out), clear of
 * the labels placed before it, of `obstacles` (markers, legend) and inside `bounds`; the last resort is straight
 * above, overlapping. Points that crowd together (a saturated service's steps) get readable labels this way.
 */
export function placeLabels(labels: { x: number; y: number; text: string }[], obstacles: Box[], bounds: Box, size = 11): PlacedLabel[] {
  const placed: PlacedLabel[] = [];
  for (const label of labels) {
    const candidates: Omit<PlacedLabel, 'box'>[] = [];
    for (let ring = 0; ring < 10; ring++) {
      const d = ring * 13;
      candidates.push(
        { x: label.x, y: label.y - 9 - d, anchor: 'middle' },
        { x: label.x + 8 + d, y: label.y + 4, anchor: 'start' },
        { x: label.x - 8 - d, y: label.y + 4, anchor: 'end' },
        { x: label.x, y: label.y + 17 + d, anchor: 'middle' },
        { x: label.x + 8, y: label.y + 4 - d, anchor: 'start' },
        { x: label.x + 8, y: label.y + 4 + d, anchor: 'start' },
        { x: label.x - 8, y: label.y + 4 - d, anchor: 'end' },
        { x: label.x - 8, y: label.y + 4 + d, anchor: 'end' },
      );
    }
    const free = candidates
      .map((candidate) => ({ ...candidate, box: textBox(candidate.x, candidate.y, candidate.anchor, label.text, size) }))
      .find(
        ({ box }) =>
          box.x0 >= bounds.x0 && box.x1 <= bounds.x1 && box.y0 >= bounds.y0 && box.y1 <= bounds.y1 &&
          !placed.some((other) => overlaps(box, other.box)) && !obstacles.some((obstacle) => overlaps(box, obstacle)),
      );
    placed.push(free ?? { x: label.x, y: label.y - 9, anchor: 'middle', box: textBox(label.x, label.y - 9, 'middle', label.text, size) });
  }
  return placed;
}

/** Splits `text` into lines of at most `max` characters, at spaces. */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

export function renderLatencyChart(input: LatencyChartInput): string {
  const width = input.width ?? 900;
  const height = input.height ?? 560;
  const targets = input.targetsMs ?? [10, 50];
  const subtitleLines = input.subtitle ? wrap(input.subtitle, Math.floor((width - 60) / 6.4)) : [];
  const plot = { left: 80, right: width - 30, top: 58 + subtitleLines.length * 16, bottom: height - 62 };

  // x: 0 … a nice round number above the largest rate shown (points and baseline).
  const xData = Math.max(1, ...input.points.map((p) => p.acceptedPerSec), input.baseline?.perSec ?? 0) * 1.06;
  const xStep = niceStep(xData);
  const xMax = Math.ceil(xData / xStep) * xStep;
  const x = (value: number) => plot.left + (value / xMax) * (plot.right - plot.left);

  // y: powers of ten around every latency and target.
  const latencies = input.points.flatMap((p) => [p.p50Ms, p.p99Ms]).filter((v) => v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...latencies, ...targets) * 0.95)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...latencies, ...targets) * 1.05));
  const y = (value: number) => {
    const clamped = Math.min(yMax, Math.max(yMin, value));
    return plot.bottom - ((Math.log10(clamped) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (plot.bottom - plot.top);
  };

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`  <title>${escapeXml(input.title)}</title>`);
  out.push(`  <rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`  <text x="${n(width / 2)}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="${COLORS.text}">${escapeXml(input.title)}</text>`);
  subtitleLines.forEach((line, i) => out.push(`  <text x="${n(width / 2)}" y="${46 + i * 16}" text-anchor="middle" fill="${COLORS.muted}">${escapeXml(line)}</text>`));

  // Grid and ticks.
  out.push('  <g class="grid">');
  for (let value = 0; value <= xMax + xStep / 2; value += xStep) {
    const px = n(x(value));
    out.push(`    <line x1="${px}" y1="${plot.top}" x2="${px}" y2="${plot.bottom}" stroke="${COLORS.grid}"/>`);
    out.push(`    <text x="${px}" y="${plot.bottom + 18}" text-anchor="middle" fill="${COLORS.text}">${formatRate(Number(value.toPrecision(6)))}</text>`);
  }
  for (const value of logTicks(yMin, yMax)) {
    const py = n(y(value));
    const major = Number.isInteger(Math.log10(value));
    out.push(`    <line x1="${plot.left}" y1="${py}" x2="${plot.right}" y2="${py}" stroke="${COLORS.grid}"${major ? ' stroke-width="1.5"' : ''}/>`);
    out.push(`    <text x="${plot.left - 8}" y="${py}" dy="4" text-anchor="end" fill="${COLORS.text}">${formatMs(value)}</text>`);
  }
  out.push('  </g>');
  out.push(`  <rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="${COLORS.axis}"/>`);
  out.push(`  <text x="${n((plot.left + plot.right) / 2)}" y="${height - 22}" text-anchor="middle" font-size="13" fill="${COLORS.text}">accepted requests/s (HTTP 202)</text>`);
  out.push(
    `  <text x="22" y="${n((plot.top + plot.bottom) / 2)}" transform="rotate(-90 22 ${n((plot.top + plot.bottom) / 2)})" text-anchor="middle" font-size="13" fill="${COLORS.text}">latency (ms, log scale)</text>`,
  );

  // Targets and the baseline.
  out.push('  <g class="targets">');
  for (const target of targets) {
    const py = n(y(target));
    out.push(`    <line x1="${plot.left}" y1="${py}" x2="${plot.right}" y2="${py}" stroke="${COLORS.target}" stroke-width="1.5" stroke-dasharray="8 5"/>`);
    out.push(`    <text x="${plot.right - 6}" y="${py}" dy="-5" text-anchor="end" fill="${COLORS.target}">${escapeXml(`${formatMs(target)} ms target`)}</text>`);
  }
  out.push('  </g>');
  if (input.baseline && input.baseline.perSec > 0) {
    const px = x(input.baseline.perSec);
    const nearRight = px > plot.right - 190;
    out.push('  <g class="baseline">');
    out.push(`    <line x1="${n(px)}" y1="${plot.top}" x2="${n(px)}" y2="${plot.bottom}" stroke="${COLORS.baseline}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(
      `    <text x="${n(nearRight ? px - 6 : px + 6)}" y="${plot.top + 16}" text-anchor="${nearRight ? 'end' : 'start'}" fill="${COLORS.baseline}">${escapeXml(input.baseline.label)}</text>`,
    );
    out.push('  </g>');
  }

  // The two lines, their markers, and each step's name at its p99 point.
  const series = [
    { key: 'p50', color: COLORS.p50, value: (p: LatencyChartPoint) => p.p50Ms },
    { key: 'p99', color: COLORS.p99, value: (p: LatencyChartPoint) => p.p99Ms },
  ] as const;
  for (const s of series) {
    const points = input.points.map((p) => `${n(x(p.acceptedPerSec))},${n(y(s.value(p)))}`).join(' ');
    out.push(`  <g class="series-${s.key}">`);
    out.push(`    <polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" points="${points}"/>`);
    for (const p of input.points) {
      const px = x(p.acceptedPerSec);
      const py = y(s.value(p));
      const tip = `${p.label}: ${p.acceptedPerSec}/s, ${s.key} ${s.value(p)} ms`;
      out.push(
        s.key === 'p50'
          ? `    <circle cx="${n(px)}" cy="${n(py)}" r="4" fill="${s.color}"><title>${escapeXml(tip)}</title></circle>`
          : `    <rect x="${n(px - 4)}" y="${n(py - 4)}" width="8" height="8" fill="${s.color}"><title>${escapeXml(tip)}</title></rect>`,
      );
    }
    out.push('  </g>');
  }
  // Legend, top left inside the plot.
  const lx = plot.left + 12;
  const ly = plot.top + 12;
  const entries: [string, string][] = [
    [`<line x1="0" y1="0" x2="26" y2="0" stroke="${COLORS.p50}" stroke-width="2"/><circle cx="13" cy="0" r="4" fill="${COLORS.p50}"/>`, 'p50 latency'],
    [`<line x1="0" y1="0" x2="26" y2="0" stroke="${COLORS.p99}" stroke-width="2"/><rect x="9" y="-4" width="8" height="8" fill="${COLORS.p99}"/>`, 'p99 latency'],
    ...(input.baseline ? ([[`<line x1="0" y1="0" x2="26" y2="0" stroke="${COLORS.baseline}" stroke-width="1.5" stroke-dasharray="6 4"/>`, 'baseline rate']] as [string, string][]) : []),
    [`<line x1="0" y1="0" x2="26" y2="0" stroke="${COLORS.target}" stroke-width="1.5" stroke-dasharray="8 5"/>`, 'latency target'],
  ];
  const legendBox = { x0: lx, y0: ly, x1: lx + 138, y1: ly + entries.length * 18 + 10 };

  // Each step's name near its p99 point, clear of the other names, the markers and the legend.
  const markers = input.points.flatMap((p) => [p.p50Ms, p.p99Ms].map((ms) => ({ x0: x(p.acceptedPerSec) - 5, y0: y(ms) - 5, x1: x(p.acceptedPerSec) + 5, y1: y(ms) + 5 })));
  const labels = placeLabels(
    input.points.map((p) => ({ x: x(p.acceptedPerSec), y: y(p.p99Ms), text: p.label })),
    [...markers, legendBox],
    { x0: plot.left + 2, y0: plot.top + 2, x1: plot.right - 2, y1: plot.bottom - 2 },
  );
  out.push('  <g class="step-labels">');
  input.points.forEach((p, i) => {
    const label = labels[i]!;
    const px = x(p.acceptedPerSec);
    const py = y(p.p99Ms);
    // A leader from the marker to the nearest edge of a label that had to move away from it.
    const ex = Math.min(label.box.x1, Math.max(label.box.x0, px));
    const ey = Math.min(label.box.y1, Math.max(label.box.y0, py));
    if (Math.hypot(ex - px, ey - py) > 10) {
      out.push(`    <line x1="${n(px)}" y1="${n(py)}" x2="${n(ex)}" y2="${n(ey)}" stroke="#999999" stroke-width="0.75"/>`);
    }
    out.push(`    <text x="${n(label.x)}" y="${n(label.y)}" text-anchor="${label.anchor}" font-size="11" fill="${COLORS.muted}">${escapeXml(p.label)}</text>`);
  });
  out.push('  </g>');

  out.push(`  <g class="legend" transform="translate(${lx} ${ly})">`);
  out.push(`    <rect x="0" y="0" width="138" height="${entries.length * 18 + 10}" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc"/>`);
  entries.forEach(([symbol, text], i) => {
    out.push(`    <g transform="translate(10 ${14 + i * 18})">${symbol}<text x="34" y="4" fill="${COLORS.text}">${escapeXml(text)}</text></g>`);
  });
  out.push('  </g>');
  if (input.points.length === 0) out.push(`  <text x="${n((plot.left + plot.right) / 2)}" y="${n((plot.top + plot.bottom) / 2)}" text-anchor="middle" fill="${COLORS.muted}">no data</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** What the chart needs of a sweep's data file (`docs/perf/ingest-latency.json`, written by run-bench.ts). */
export interface SweepChartData {
  generatedAt: string;
  machine: { cpus: number; loadavg1AtStart: number; loadavg1AtEnd: number };
  options: { connections: number; payloadBytes: number; sweepDurationSec?: number };
  reference: { kind: 'pgbench' | 'node'; perSec: number };
  steps: { step: string; acceptedPerSec: number; p50Ms: number; p99Ms: number }[];
}

/** The chart of a sweep: title with date and cores, what ran, the baseline line, targets at 10 and 50 ms. */
export function chartInputFromSweepData(data: SweepChartData): LatencyChartInput {
  const baselineName = data.reference.kind === 'pgbench' ? 'pgbench' : 'Node pg client';
  return {
    title: `Ingest latency vs throughput — ${data.generatedAt.slice(0, 10)}, ${data.machine.cpus} cores`,
    subtitle:
      `ingress + worker (dist/), ${data.options.connections} connections, ${data.options.payloadBytes} B signed Stripe webhooks, ` +
      `${data.options.sweepDurationSec ?? '?'} s per offered rate (${data.steps.map((s) => s.step).join(', ')} of the ${baselineName} baseline); ` +
      `load avg ${data.machine.loadavg1AtStart} → ${data.machine.loadavg1AtEnd}`,
    points: data.steps.map((s) => ({ label: s.step, acceptedPerSec: s.acceptedPerSec, p50Ms: s.p50Ms, p99Ms: s.p99Ms })),
    baseline: { perSec: data.reference.perSec, label: `${baselineName} baseline ${Math.round(data.reference.perSec)}/s` },
    targetsMs: [10, 50],
  };
}
