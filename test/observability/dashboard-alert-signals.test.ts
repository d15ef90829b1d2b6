/**
 * Every alert's signal is on the dashboard. docs/runbooks.md says the dashboard "shows every signal named below",
 * and its runbooks send the operator paged by an alert to the dashboard to see what fired and to confirm recovery
 * (WebhookRedisUnavailable: "confirm on the dashboard that … `webhook_events_unfinished` drains";
 * WebhookStorageUnavailable: "Which sign fired: … or `webhook_dependency_up{dependency="database"}` of the ingress
 * pods at 0"). A metric an alert fires on but no panel queries leaves that operator with "No data" to look at:
 * - WebhookNoWorkers fires on webhook_events_unfinished when enqueues failed (no job queued): "Queue backlog" and
 *   "Queue depth by state" show 0;
 * - WebhookStorageUnavailable / WebhookRedisUnavailable fire on webhook_dependency_up, which no panel shows;
 * - WebhookDestinationHeldTooLong fires on webhook_destination_oldest_waiting_age_seconds, which no panel shows
 *   ("Oldest waiting job" is the queue's age, 0 while events are held for a paused destination).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { metricNames } from './support/promql-metric-names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const dashboard = JSON.parse(read('charts/event-integration-service/files/dashboards/event-integration-service.json')) as {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
};
const rules = parse(read('charts/event-integration-service/files/alerts/rules.yaml')) as {
  groups: { rules: { alert?: string; expr: string }[] }[];
};

/** Metrics that only scope or join an expression (which processes, how old), not a signal an operator reads. */
const JOIN_ONLY = new Set(['webhook_service_info', 'process_start_time_seconds']);

/** A histogram's series all belong to one family: `x_bucket`, `x_sum`, `x_count` are `x`. */
const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

describe('alert signals on the dashboard', () => {
  const shown = new Set(
    dashboard.panels
      .filter((panel) => panel.type !== 'row')
      .flatMap((panel) => (panel.targets ?? []).flatMap((target) => metricNames(target.expr).map(family))),
  );

  it('every metric an alert fires on is queried by some dashboard panel', () => {
    const missing = rules.groups
      .flatMap((group) => group.rules)
      .filter((rule) => rule.alert !== undefined)
      .flatMap((rule) =>
        metricNames(rule.expr)
          .map(family)
          .filter((name) => !JOIN_ONLY.has(name) && !shown.has(name))
          .map((name) => `${rule.alert}: ${name}`),
      );
    expect([...new Set(missing)].sort()).toEqual([]);
  });

  it('the metrics the runbooks tell the operator to read "on the dashboard" are on it', () => {
    const runbooks = read('docs/runbooks.md');
    // "confirm on the dashboard that … and that `webhook_events_unfinished` drains" (WebhookRedisUnavailable).
    const confirmOnDashboard = [...runbooks.matchAll(/on the\s+dashboard[^.]*?`(webhook_[a-z_]+)`/g)].map((match) => match[1]!);
    expect(confirmOnDashboard.length).toBeGreaterThan(0);
    expect(confirmOnDashboard.filter((name) => !shown.has(name))).toEqual([]);
  });
});
