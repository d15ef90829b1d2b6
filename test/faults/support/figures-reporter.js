import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Columns of the figures table: [key in a scenario's figures, title]. */
const COLUMNS = [
  ['sent', 'sent'],
  ['accepted', 'accepted'],
  ['stored', 'stored'],
  ['delivered', 'delivered'],
  ['deliveredTwice', 'delivered twice'],
  ['deadLettered', 'dead-lettered'],
  ['lost', 'lost'],
  ['answered503', '503 (retried)'],
  ['connectionErrors', 'conn. errors (retried)'],
  ['answered5xxOther', 'other 5xx'],
  ['hangs', 'hangs'],
  ['seconds', 's'],
];

/** A markdown table of figures, one row per scenario (also printed by each scenario for its own row). */
export function figuresTable(rows) {
  const header = ['scenario', ...COLUMNS.map(([, title]) => title)];
  const lines = rows.map((row) => [row.scenario, ...COLUMNS.map(([key]) => String(row[key]))]);
  const widths = header.map((title, index) => Math.max(title.length, ...lines.map((line) => line[index].length)));
  const format = (cells) => `| ${cells.map((cell, index) => cell.padEnd(widths[index])).join(' | ')} |`;
  return [format(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(format)].join('\n');
}

/**
 * Collects the figures each fault scenario appends (JSON lines in a temporary file named by FAULT_FIGURES_FILE)
 * and prints them as one table after the run. Nothing is written into the repository.
 */
export default class FiguresReporter {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'fault-figures-'));
    this.file = join(this.dir, 'figures.jsonl');
    process.env.FAULT_FIGURES_FILE = this.file;
  }

  onRunComplete() {
    const rows = existsSync(this.file)
      ? readFileSync(this.file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
      : [];
    rmSync(this.dir, { recursive: true, force: true });
    if (rows.length === 0) return;
    process.stdout.write(`\nFault suite figures (lost must be 0 everywhere)\n${figuresTable(rows)}\n`);
  }
}
