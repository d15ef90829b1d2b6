/**
 * The dashboard's panels per destination with two releases of the chart in one namespace that both name a
 * destination "orders" (each its own configuration, Redis and PostgreSQL), evaluated by a real Prometheus scraping
 * three release-labelled targets: release "shop" runs two worker pods, "billing" one. Destination names belong to a
 * release's configuration, so the same name in two releases is two destinations:
 * - the state gauges (paused, circuit open for, events waiting, oldest held event) are read from the release's shared
 *   Redis and PostgreSQL and are the same from each of its pods: `max` per release and destination (never `sum`,
 *   which counts shop's backlog twice), and never `max` per destination alone, which showed the larger release's
 *   value for both (billing's paused destination hidden behind shop's, or shop's backlog shown as billing's);
 * - the per-pod counters (attempts, failure ratio, latency, deferrals) are summed per release and destination: summed
 *   per destination alone, billing's failing "orders" read as a 20 % failure ratio of one blended line.
 * With the Release variable on "All", each panel must answer, for every release, exactly what it answers with that
 * release alone selected, on separate series, and the values the exporters set.
 *
 * The targets are static exporters of the worker's metric names and labels (the values are chosen, so the expected
 * answers are known); prometheus-queries.test.ts runs the same panels against real service processes.
 *
 * Needs Debian's `prometheus` package; skipped with a message when it is missing, unless REQUIRE_PROMETHEUS is set
 * (CI), which makes that a failure.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import { PrometheusServer, type QuerySeries } from './support/prometheus-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');

const binaries = prometheusBinaries(['prometheus']);
const NAMESPACE = 'webhooks';
const QUEUE = 'webhook-events';
const DESTINATION = 'orders';
const RATE_INTERVAL = '10s';

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { refId: string; expr: string; legendFormat?: string }[];
}
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };

/** What one release's pods export: the shared state (the same from each pod) and per-pod counter rates. */
interface Release {
  name: string;
  pods: number;
  circuitOpenSeconds: number;
  eventsWaiting: number;
  oldestWaitingSeconds: number;
  paused: 0 | 1;
  /** Per pod, per second. */
  successPerSecond: number;
  httpErrorPerSecond: number;
  deferredPerSecond: number;
  /** The upper bound of the bucket every delivery of the release falls in. */
  deliveryLe: string;
}
const SHOP: Release = {
  name: 'shop',
  pods: 2,
  circuitOpenSeconds: 30,
  eventsWaiting: 2,
  oldestWaitingSeconds: 120,
  paused: 0,
  successPerSecond: 2,
  httpErrorPerSecond: 0,
  deferredPerSecond: 1,
  deliveryLe: '0.1',
};
const BILLING: Release = {
  name: 'billing',
  pods: 1,
  circuitOpenSeconds: 5,
  eventsWaiting: 7,
  oldestWaitingSeconds: 40,
  paused: 1,
  successPerSecond: 1,
  httpErrorPerSecond: 1,
  deferredPerSecond: 0.5,
  deliveryLe: '1',
};
const RELEASES = [SHOP, BILLING];
const LES = ['0.1', '0.5', '1', '+Inf'];

/** The worker's metrics page of one pod of `release`, its counters grown at their rates since `startedAt`. */
function exposition(release: Release, startedAt: number): string {
  const seconds = (Date.now() - startedAt) / 1000;
  const d = `destination="${DESTINATION}"`;
  const attempts = (release.successPerSecond + release.httpErrorPerSecond) * seconds;
  const lines = [
    `webhook_service_info{role="worker",queue="${QUEUE}"} 1`,
    `webhook_worker_concurrency{queue="${QUEUE}"} 4`,
    `webhook_destination_paused{${d}} ${release.paused}`,
    `webhook_destination_circuit_open_seconds{${d}} ${release.circuitOpenSeconds}`,
    `webhook_destination_events_waiting{${d}} ${release.eventsWaiting}`,
    `webhook_destination_oldest_waiting_age_seconds{${d}} ${release.oldestWaitingSeconds}`,
    `webhook_delivery_attempts_total{${d},result="success"} ${release.successPerSecond * seconds}`,
    `webhook_delivery_attempts_total{${d},result="http_error"} ${release.httpErrorPerSecond * seconds}`,
    `webhook_destination_deferred_total{${d},reason="circuit_open"} ${release.deferredPerSecond * seconds}`,
    ...LES.map((le) => `webhook_delivery_duration_seconds_bucket{${d},le="${le}"} ${Number(le) >= Number(release.deliveryLe) || le === '+Inf' ? attempts : 0}`),
    `webhook_delivery_duration_seconds_count{${d}} ${attempts}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A panel's target as Grafana sends it: namespace and queue "All", the release as given. */
const grafana = (expr: string, release: string) =>
  (
    [
      ['$__rate_interval', RATE_INTERVAL],
      ['$__range_s', '600'],
      ['$__range', '10m'],
      ['$namespace', '.*'],
      ['$release', release],
      ['$queue', '.*'],
    ] as [string, string][]
  ).reduce((text, [name, value]) => text.split(name).join(value), expr);

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
const near = (expected: number) => (value: number) => Math.abs(value - expected) <= 0.25 * expected;
const key = (series: QuerySeries) => JSON.stringify(Object.entries(series.metric).sort(([a], [b]) => a.localeCompare(b)));
const show = (series: QuerySeries[]) => JSON.stringify(series.map((s) => ({ ...s.metric, value: s.value })));

/**
 * The panels per destination, and per release what their series for "orders" (and `labels`) must read.
 * Rates are per second over the release's pods.
 */
const PANELS: { title: string; labels?: Record<string, string>; expected: (release: Release) => (value: number) => boolean }[] = [
  { title: 'Paused destinations', expected: (r) => (value) => value === r.paused },
  { title: 'Circuit open for', expected: (r) => (value) => value === r.circuitOpenSeconds },
  { title: 'Events waiting by destination', expected: (r) => (value) => value === r.eventsWaiting },
  { title: 'Oldest held event by destination', expected: (r) => (value) => value === r.oldestWaitingSeconds },
  { title: 'Delivery attempts by destination and result', labels: { result: 'success' }, expected: (r) => near(r.successPerSecond * r.pods) },
  {
    title: 'Delivery failure ratio by destination',
    expected: (r) => (value) => close(value, r.httpErrorPerSecond / (r.successPerSecond + r.httpErrorPerSecond)),
  },
  { title: 'Delivery latency p95 by destination', expected: (r) => (value) => value > (r.deliveryLe === '0.1' ? 0 : 0.5) && value <= Number(r.deliveryLe) },
  { title: 'Deliveries put off by reason', labels: { reason: 'circuit_open' }, expected: (r) => near(r.deferredPerSecond * r.pods) },
];

describe('destination panels with two releases naming a destination alike (real Prometheus)', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'prometheus checks')) return;

  const exporters: Server[] = [];
  let prometheus: PrometheusServer;
  /** The one evaluation time of every query, so the "All" and per-release answers read the same samples. */
  let at: number;

  beforeAll(async () => {
    const startedAt = Date.now();
    const targets: { address: string; labels: Record<string, string> }[] = [];
    for (const release of RELEASES) {
      for (let pod = 0; pod < release.pods; pod += 1) {
        const server = createServer((_request, response) => {
          response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          response.end(exposition(release, startedAt));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        exporters.push(server);
        const job = `${release.name}-event-integration-service-worker`;
        targets.push({
          address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
          // The labels the Prometheus Operator gives a ServiceMonitor target of the chart (targetLabels: the release).
          labels: { namespace: NAMESPACE, job, service: job, pod: `${job}-${pod}`, app_kubernetes_io_instance: release.name },
        });
      }
    }
    prometheus = await new PrometheusServer(binaries.prometheus!, await freePort(), { targets, ruleFiles: [] }).start();
    // Every target scraped often enough that each rate over RATE_INTERVAL has its samples.
    const pods = RELEASES.reduce((sum, release) => sum + release.pods, 0);
    await waitFor(
      'every exporter scraped 10 times within 12 s',
      async () => {
        const [series] = await prometheus.query(`count(count_over_time(webhook_service_info{namespace="${NAMESPACE}"}[12s]) >= 10)`);
        return series?.value === pods;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    at = Date.now() / 1000;
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(exporters.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('covers every panel that reads a destination label', () => {
    const perDestination = dashboard.panels.filter((panel) => panel.targets?.some((target) => /\bdestination\b/.test(target.expr))).map((panel) => panel.title);
    expect(perDestination.sort()).toEqual(PANELS.map((panel) => panel.title).sort());
  });

  it.each(PANELS)('$title: with Release "All", each release on its own series, as with that release alone', async ({ title, labels, expected }) => {
    const panel = dashboard.panels.find((p) => p.title === title)!;
    for (const target of panel.targets!) {
      const all = await prometheus.query(grafana(target.expr, '.*'), at);
      const alone = new Map<Release, QuerySeries[]>();
      for (const release of RELEASES) alone.set(release, await prometheus.query(grafana(target.expr, release.name), at));

      // "All" answers the union of the releases' answers: as many series, each equal to one release's. A panel's
      // zero fallback without a release label ("all attempts") is in every release's answer: counted once.
      const union = [...new Map([...alone.values()].flat().map((series) => [key(series), series])).values()];
      const problems: string[] = [];
      if (all.length !== union.length) problems.push(`"All" answered ${all.length} series, the releases alone ${union.length}`);
      for (const series of union) {
        const match = all.find((candidate) => key(candidate) === key(series));
        if (!match) problems.push(`no series ${key(series)} under "All"`);
        else if (!close(match.value, series.value)) problems.push(`${key(series)} reads ${match.value} under "All", ${series.value} alone`);
      }
      // Each release alone answers its own exporters' values.
      for (const [release, answer] of alone) {
        const ours = answer.filter((s) => s.metric.destination === DESTINATION && Object.entries(labels ?? {}).every(([k, v]) => s.metric[k] === v));
        if (ours.length !== 1 || !expected(release)(ours[0]!.value)) problems.push(`release ${release.name} alone answered ${show(answer)}`);
        else if (ours[0]!.metric.app_kubernetes_io_instance !== release.name) problems.push(`release ${release.name}'s series lacks its release label: ${show(ours)}`);
      }
      // The lines must be told apart in the legend too.
      if (!target.legendFormat?.includes('{{app_kubernetes_io_instance}}')) problems.push(`legend ${target.legendFormat} does not name the release`);
      expect({ target: target.refId, all: show(all), problems }).toEqual({ target: target.refId, all: show(all), problems: [] });
    }
  }, 60_000);
});
