import { describe, expect, it } from '@jest/globals';
import {
  chartInputFromSweepData,
  escapeXml,
  logTicks,
  niceStep,
  placeLabels,
  renderLatencyChart,
  type Box,
  type LatencyChartInput,
} from '../../scripts/bench/latency-chart.js';

/** Every tag closed in order, attributes quoted, no bare `&` or `<` in text: well-formed enough for any SVG viewer. */
function wellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let match = tag.exec(svg); match; match = tag.exec(svg)) {
    const text = svg.slice(last, match.index);
    expect(text).not.toMatch(/<|&(?!(amp|lt|gt|quot|apos);)/);
    last = match.index + match[0].length;
    const [, closing, name, , selfClosing] = match;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) stack.push(name!);
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  // Nothing that looks like a tag was skipped by the pattern above.
  expect(svg.replace(tag, '')).not.toMatch(/[<>]/);
}

const input: LatencyChartInput = {
  title: 'Ingest latency vs throughput — 2025-01-02, 2 cores & friends',
  points: [
    { label: '25%', acceptedPerSec: 1000, p50Ms: 10, p99Ms: 100 },
    { label: '50%', acceptedPerSec: 2000, p50Ms: 20, p99Ms: 200 },
    { label: 'max', acceptedPerSec: 2600, p50Ms: 100, p99Ms: 900 },
  ],
  baseline: { perSec: 3000, label: 'pgbench baseline 3000/s' },
};

describe('bench latency chart (SVG)', () => {
  const svg = renderLatencyChart(input);

  it('is a well-formed SVG document', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="900" height="560"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    wellFormed(svg);
  });

  it('draws p50 and p99 through every step on a linear rate axis and a log latency axis', () => {
    // Plot area x 80…870 for 0…4000/s (baseline 3000 × 1.06 → ticks of 1000), y 498…58 for 1…1000 ms.
    const polylines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]);
    expect(polylines).toEqual(['277.5,351.3 475,307.2 593.5,204.7', '277.5,204.7 475,160.5 593.5,64.7']);
    expect(svg.match(/<circle /g)).toHaveLength(3 + 1); // three p50 markers, one in the legend
    expect(svg).toContain('<rect x="273.5" y="200.7" width="8" height="8" fill="#d62728">');
    for (const label of ['25%', '50%', 'max']) expect(svg).toContain(`>${label}</text>`);
    for (const tick of ['>0</text>', '>1,000</text>', '>4,000</text>', '>1</text>', '>5</text>', '>1000</text>']) expect(svg).toContain(tick);
  });

  it('labels the baseline, the targets, the axes and the legend; escapes text', () => {
    expect(svg).toContain('<line x1="672.5" y1="58" x2="672.5" y2="498" stroke="#444444" stroke-width="1.5" stroke-dasharray="6 4"/>');
    expect(svg).toContain('>pgbench baseline 3000/s</text>');
    expect(svg).toMatch(/<line x1="80" y1="351.3" x2="870" y2="351.3" [^>]*stroke-dasharray/);
    expect(svg).toContain('>10 ms target</text>');
    expect(svg).toContain('>50 ms target</text>');
    expect(svg).toContain('>accepted requests/s (HTTP 202)</text>');
    expect(svg).toContain('>latency (ms, log scale)</text>');
    for (const entry of ['p50 latency', 'p99 latency', 'baseline rate', 'latency target']) expect(svg).toContain(`>${entry}</text>`);
    expect(svg).toContain('2 cores &amp; friends</text>');
  });

  it('wraps a long subtitle, and renders without points or baseline', () => {
    const long = renderLatencyChart({ ...input, subtitle: 'word '.repeat(60).trim() });
    wellFormed(long);
    expect(long.match(/fill="#666666">word/g)!.length).toBeGreaterThanOrEqual(2);
    const empty = renderLatencyChart({ title: 'nothing', points: [] });
    wellFormed(empty);
    expect(empty).toContain('>no data</text>');
    expect(empty).not.toContain('baseline rate');
  });

  it('picks round ticks', () => {
    expect(niceStep(3180)).toBe(1000);
    expect(niceStep(1300)).toBe(250);
    expect(niceStep(90)).toBe(20);
    expect(logTicks(1, 1000)).toEqual([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]);
    expect(logTicks(0.1, 10)).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10]);
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });

  it('keeps step names apart when a saturated service piles its points together', () => {
    const crowd = [0, 1, 2, 3, 4].map((i) => ({ x: 300 + i * 3, y: 200 + i * 2, text: `${100 + i * 25}%` }));
    const markers: Box[] = crowd.map((p) => ({ x0: p.x - 5, y0: p.y - 5, x1: p.x + 5, y1: p.y + 5 }));
    const bounds = { x0: 80, y0: 58, x1: 870, y1: 498 };
    const placed = placeLabels(crowd, markers, bounds);
    expect(placed[0]).toMatchObject({ x: 300, y: 191, anchor: 'middle' }); // the first goes straight above its point
    for (const [i, a] of placed.entries()) {
      expect(a.box.x0).toBeGreaterThanOrEqual(bounds.x0);
      expect(a.box.x1).toBeLessThanOrEqual(bounds.x1);
      for (const marker of markers) expect(a.box.x0 < marker.x1 && marker.x0 < a.box.x1 && a.box.y0 < marker.y1 && marker.y0 < a.box.y1).toBe(false);
      for (const b of placed.slice(i + 1)) expect(a.box.x0 < b.box.x1 && b.box.x0 < a.box.x1 && a.box.y0 < b.box.y1 && b.box.y0 < a.box.y1).toBe(false);
    }
    const svg = renderLatencyChart({ title: 't', points: crowd.map((p, i) => ({ label: p.text, acceptedPerSec: 2000 + i * 20, p50Ms: 25, p99Ms: 70 + i })) });
    wellFormed(svg);
    expect(svg).toContain('stroke="#999999"'); // at least one label moved away, with a leader to its point
  });

  it("draws a sweep's data file as run-bench.ts writes it", () => {
    const chart = chartInputFromSweepData({
      generatedAt: '2026-11-30T17:18:21.000Z',
      machine: { cpus: 2, loadavg1AtStart: 3.15, loadavg1AtEnd: 6.71 },
      options: { connections: 64, payloadBytes: 2048, sweepDurationSec: 6 },
      reference: { kind: 'pgbench', perSec: 8357.2 },
      steps: [
        { step: '10%', acceptedPerSec: 827.6, p50Ms: 2.7, p99Ms: 14.7 },
        { step: 'max', acceptedPerSec: 2273.6, p50Ms: 26.4, p99Ms: 65.5 },
      ],
    });
    expect(chart.title).toBe('Ingest latency vs throughput — 2026-11-30, 2 cores');
    expect(chart.subtitle).toContain('64 connections, 2048 B signed Stripe webhooks, 6 s per offered rate (10%, max of the pgbench baseline)');
    expect(chart.baseline).toEqual({ perSec: 8357.2, label: 'pgbench baseline 8357/s' });
    expect(chart.targetsMs).toEqual([10, 50]);
    expect(chart.points).toEqual([
      { label: '10%', acceptedPerSec: 827.6, p50Ms: 2.7, p99Ms: 14.7 },
      { label: 'max', acceptedPerSec: 2273.6, p50Ms: 26.4, p99Ms: 65.5 },
    ]);
    wellFormed(renderLatencyChart(chart));
  });
});
