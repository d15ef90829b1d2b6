import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from '../../support/wait-for.js';

/** One series of an instant query's answer. */
export interface QuerySeries {
  metric: Record<string, string>;
  value: number;
}

/** A static scrape target with the labels a Prometheus Operator ServiceMonitor would give it. */
export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

/**
 * A real Prometheus server (Debian's `prometheus` binary) on a loopback port, with its own TSDB in a temporary
 * directory: scrapes the given targets every second, evaluates the given rule files every second, and answers
 * PromQL through its HTTP API.
 */
export class PrometheusServer {
  readonly logs: string[] = [];
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'prometheus-test-'));

  constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly options: { targets: ScrapeTarget[]; ruleFiles: string[] },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: this.options.ruleFiles,
      scrape_configs: [
        // One scrape config per target, as the Operator makes one per ServiceMonitor endpoint; the target's labels
        // (job, namespace, service, pod, container, endpoint) override the defaults, as the Operator's relabelling does.
        ...this.options.targets.map((target, index) => ({
          job_name: `target-${index}`,
          metrics_path: '/metrics',
          static_configs: [{ targets: [target.address], labels: target.labels }],
        })),
        { job_name: 'prometheus', static_configs: [{ targets: [`127.0.0.1:${this.port}`] }] },
      ],
    };
    const configFile = path.join(this.dir, 'prometheus.yml');
    writeFileSync(configFile, stringify(config), 'utf8');
    this.child = spawn(
      this.binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [this.child.stdout!, this.child.stderr!]) stream.on('data', (chunk: Buffer) => this.logs.push(chunk.toString('utf8')));
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (this.child?.exitCode !== null) throw new Error(`prometheus exited: ${this.logs.join('')}`);
        const response = await fetch(`${this.url}/-/ready`).catch(() => undefined);
        return response?.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    return this;
  }

  /** An instant query at `time` (Unix seconds; the current time when omitted); NaN values come back as NaN. */
  async query(expr: string, time?: number): Promise<QuerySeries[]> {
    const params = new URLSearchParams({ query: expr, ...(time === undefined ? {} : { time: String(time) }) });
    const response = await fetch(`${this.url}/api/v1/query?${params}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] | [number, string] };
    };
    if (body.status !== 'success') throw new Error(`query failed: ${body.error} (${expr})`);
    const { resultType, result } = body.data!;
    if (resultType === 'scalar') return [{ metric: {}, value: Number((result as [number, string])[1]) }];
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((series) => ({
      metric: series.metric,
      value: Number(series.value[1]),
    }));
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
