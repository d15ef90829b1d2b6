import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { skipOrFailWithoutPrometheus } from '../observability/support/missing-prometheus.js';
import { prometheusBinaries } from '../observability/support/prometheus-binaries.js';
import { one, parseManifests, runHelm, templateArgs } from './helm.js';

/**
 * A ServiceMonitor endpoint whose scrapeTimeout is longer than its interval is a scrape config Prometheus refuses
 * ("scrape timeout greater than scrape interval"); the Prometheus Operator rejects such a ServiceMonitor and leaves it
 * out of the configuration it generates. The release's pods are then never scraped: the KEDA prometheus trigger finds
 * no series (fallback replicas, or none), WebhookIngressAbsent / WebhookWorkersAbsent fire, the dashboards go blank,
 * while `helm install` reported success. The chart must refuse it at install, in one line naming the value.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'chart-sm-timeout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cases: { interval: string; scrapeTimeout: string; valid: boolean }[] = [
  { interval: '30s', scrapeTimeout: '10s', valid: true },
  { interval: '30s', scrapeTimeout: '30s', valid: true },
  { interval: '30s', scrapeTimeout: '45s', valid: false },
  { interval: '90s', scrapeTimeout: '1m30s', valid: true },
  { interval: '90s', scrapeTimeout: '1m31s', valid: false },
  { interval: '1m', scrapeTimeout: '59s', valid: true },
  { interval: '1m', scrapeTimeout: '2m', valid: false },
  { interval: '1s', scrapeTimeout: '1500ms', valid: false },
  { interval: '15s', scrapeTimeout: '14500ms', valid: true },
  { interval: '10s', scrapeTimeout: '1h', valid: false },
];

function render(interval: string, scrapeTimeout: string) {
  return runHelm(
    templateArgs([], ['metrics.serviceMonitor.enabled=true', `metrics.serviceMonitor.interval=${interval}`, `metrics.serviceMonitor.scrapeTimeout=${scrapeTimeout}`]),
  );
}

describe('metrics.serviceMonitor.scrapeTimeout against interval', () => {
  it.each(cases)('interval $interval, scrapeTimeout $scrapeTimeout: rendered only when the timeout fits the interval', ({ interval, scrapeTimeout, valid }) => {
    const run = render(interval, scrapeTimeout);
    if (valid) {
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      const endpoint = one(parseManifests(run.stdout), 'ServiceMonitor').spec.endpoints[0];
      expect({ interval: endpoint.interval, scrapeTimeout: endpoint.scrapeTimeout }).toEqual({ interval, scrapeTimeout });
      return;
    }
    expect(run.status).not.toBe(0);
    const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(`metrics.serviceMonitor.scrapeTimeout=${scrapeTimeout}`);
    expect(errorLines[0]).toContain(`metrics.serviceMonitor.interval (${interval})`);
  });

  it('is not checked while the ServiceMonitor is off', () => {
    const run = runHelm(templateArgs([], ['metrics.serviceMonitor.interval=30s', 'metrics.serviceMonitor.scrapeTimeout=45s']));
    expect(run.status).toBe(0);
  });

  describe('agrees with Prometheus itself (promtool check config on the scrape config the operator would generate)', () => {
    const binaries = prometheusBinaries(['promtool']);
    if (skipOrFailWithoutPrometheus(binaries, 'promtool agreement')) return;

    it.each(cases)('interval $interval, scrapeTimeout $scrapeTimeout', ({ interval, scrapeTimeout, valid }) => {
      const file = path.join(dir, `${interval}-${scrapeTimeout}.yml`);
      writeFileSync(
        file,
        ['scrape_configs:', '  - job_name: eis', `    scrape_interval: ${interval}`, `    scrape_timeout: ${scrapeTimeout}`, "    static_configs: [{ targets: ['127.0.0.1:3000'] }]", ''].join('\n'),
      );
      const check = spawnSync(binaries.promtool!, ['check', 'config', file], { encoding: 'utf8', timeout: 30_000 });
      expect({ prometheusTakes: check.status === 0, chartRenders: render(interval, scrapeTimeout).status === 0 }).toEqual({ prometheusTakes: valid, chartRenders: valid });
    });
  });
});
