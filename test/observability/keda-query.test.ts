/**
 * The ScaledObject's Prometheus query as the chart renders it. With minReplicas 0 it must also count what only a
 * running worker can move on (retries in backoff, events waiting for the reconciler), or the chart refuses to
 * render. prometheus-queries.test.ts evaluates the rendered query on a real Prometheus.
 */
import { describe, expect, it } from '@jest/globals';
import { releaseNamespace, renderChart, runHelm, templateArgs } from '../chart/helm.js';

const keda = (set: string[]) => {
  const scaled = renderChart([], ['autoscaling.keda.enabled=true', ...set]).find((object) => object.kind === 'ScaledObject')!;
  return { spec: scaled.spec, trigger: scaled.spec.triggers[0] as { type: string; metadata: Record<string, string> } };
};

const scope = `namespace="${releaseNamespace}",queue="webhook-events"`;

describe('KEDA ScaledObject query', () => {
  it('minReplicas ≥ 1: the backlog alone (max across pods per state, summed over states)', () => {
    const { trigger } = keda(['autoscaling.keda.minReplicas=1']);
    expect(trigger.metadata.query).toBe(`sum(max by (state) (webhook_queue_jobs{${scope},state=~"waiting|prioritized|active"}))`);
  });

  it('minReplicas 0: one replica’s worth for delayed jobs or unfinished events, else the backlog, as one series', () => {
    const { spec, trigger } = keda(['autoscaling.keda.minReplicas=0', 'autoscaling.keda.queueDepthPerReplica=50']);
    expect(spec.minReplicaCount).toBe(0);
    expect(trigger.metadata.threshold).toBe('50');
    expect(trigger.metadata.query).toBe(
      `max(sum(max by (state) (webhook_queue_jobs{${scope},state=~"waiting|prioritized|active"}))` +
        ` or 50 * clamp_max(max by (state) (webhook_queue_jobs{${scope},state="delayed"}), 1)` +
        ` or 50 * clamp_max(max by (queue) (webhook_events_unfinished{${scope}}), 1))`,
    );
  });

  it('minReplicas 0: extraSelector reaches every term; a custom query is used as given', () => {
    const { trigger } = keda(['autoscaling.keda.minReplicas=0', 'autoscaling.keda.prometheus.extraSelector=cluster="eu-1"']);
    expect(trigger.metadata.query!.match(/cluster="eu-1"/g)).toHaveLength(3);
    const custom = keda(['autoscaling.keda.minReplicas=0', 'autoscaling.keda.prometheus.query=vector(1)']);
    expect(custom.trigger.metadata.query).toBe('vector(1)');
  });

  it('refuses minReplicas 0 with the redis trigger, and an activation threshold the wake value cannot pass', () => {
    const redis = runHelm(templateArgs([], ['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=0', 'autoscaling.keda.trigger=redis']));
    expect(redis.status).not.toBe(0);
    expect(redis.stderr).toMatch(/minReplicas: 0 needs autoscaling\.keda\.trigger=prometheus.*delayed jobs/);
    const activation = runHelm(
      templateArgs([], ['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=0', 'autoscaling.keda.activationThreshold=100']),
    );
    expect(activation.status).not.toBe(0);
    expect(activation.stderr).toMatch(/activationThreshold \(100\) below queueDepthPerReplica \(100\)/);
  });
});
