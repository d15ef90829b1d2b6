/**
 * The ingress answers a webhook 503 with outcome="overloaded" when the bodies being received hold its body budget
 * (BodyMemoryBudget): stalled or slow senders holding it, or more large or compressed bodies at once than it holds
 * (it always takes two of the largest, so a refused body met others in flight). Every other 503 outcome pages (outcome="unavailable": WebhookStorageUnavailable;
 * "certificate_unavailable": WebhookSigningCertificateUnavailable), and the commit that added this one kept it apart
 * from "unavailable" so that a page names the cause, but no alert selects it: an ingress refusing every genuine
 * webhook 503 "overloaded" for half an hour pages nobody, while the providers' finite retry windows run out.
 *
 * promtool evaluates every alert of the chart's rule file on 30 minutes of a steady 1/s of such refusals (the only
 * series given): an `exp_alerts: []` case per alert, so the alerts that fire are the cases promtool reports failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const rules = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
const alertNames = rules.groups.flatMap((group) => group.rules).flatMap((rule) => (rule.alert ? [rule.alert] : []));

const binaries = prometheusBinaries(['promtool']);

describe('webhooks refused 503 for the body budget (outcome="overloaded")', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool check')) return;

  it('page someone when they go on for 30 minutes (observed: no alert of the rule file fires)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'overloaded-alert-'));
    try {
      const labels = 'namespace="webhooks",job="eis-event-integration-service-ingress",instance="10.0.0.7:3000",pod="eis-event-integration-service-ingress-a"';
      const tests = {
        rule_files: [RULES_FILE],
        evaluation_interval: '1m',
        tests: [
          {
            name: 'every webhook refused overloaded, 1/s for 40 minutes',
            interval: '1m',
            input_series: [
              { series: `webhook_events_received_total{${labels},provider="stripe",outcome="overloaded"}`, values: '0+60x40' },
              { series: `webhook_events_received_total{${labels},provider="stripe",outcome="accepted"}`, values: '0x40' },
            ],
            alert_rule_test: alertNames.map((alertname) => ({ alertname, eval_time: '35m', exp_alerts: [] })),
          },
        ],
      };
      const file = path.join(dir, 'tests.yaml');
      writeFileSync(file, stringify(tests));
      const run = spawnSync(binaries.promtool!, ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
      const output = `${run.stdout}\n${run.stderr}`;
      // promtool names each case that failed, i.e. each alert that fired.
      const fired = alertNames.filter((name) => new RegExp(`alertname: ${name}\\b`).test(output));
      expect(run.error).toBeUndefined();
      expect({ fired, someAlertFired: fired.length > 0 && run.status !== 0 }).toEqual({ fired: expect.any(Array), someAlertFired: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
