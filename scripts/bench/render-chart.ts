/**
 * Re-renders a sweep's chart from its data file, without running the benchmark again:
 *
 *   scripts/node.sh --import tsx scripts/bench/render-chart.ts [docs/perf/ingest-latency.json] [out.svg]
 *
 * (default output: the data file's path with .svg).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { chartInputFromSweepData, renderLatencyChart, type SweepChartData } from './latency-chart.js';

const input = process.argv[2] ?? 'docs/perf/ingest-latency.json';
const output = process.argv[3] ?? input.replace(/\.json$/, '') + '.svg';
const data = JSON.parse(readFileSync(input, 'utf8')) as SweepChartData;
writeFileSync(output, renderLatencyChart(chartInputFromSweepData(data)), 'utf8');
process.stdout.write(`${output}\n`);
