/** Types of figures-reporter.js (plain JavaScript, since Jest loads reporters without transforming them). */
export declare function figuresTable(rows: ReadonlyArray<{ scenario: string }>): string;
export default class FiguresReporter {
  onRunComplete(): void;
}
