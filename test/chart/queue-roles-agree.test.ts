import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../services/shared/config/config.js';
import { one, parseManifests, podSpecOf, runHelm, templateArgs } from './helm.js';

/**
 * The ingress enqueues each stored event into the BullMQ queue <QUEUE_PREFIX>:<QUEUE_NAME> of its own configuration,
 * and the workers take jobs from the queue of theirs. `config` is shared, but `ingress.config` / `worker.config` lay
 * a role's own values over it, and a QUEUE_NAME or QUEUE_PREFIX set for one role only (`worker.config.QUEUE_NAME:
 * orders`, to rename the queue) rendered two roles on two queues: no worker ever takes a job the ingress queues. The
 * events are delivered only once the reconciler finds them stranded (RECONCILER_STALE_MS later, each), the ingress's
 * jobs pile up in Redis for good (up to maxmemory, when enqueues fail), and WebhookQueueBacklogAge and
 * WebhookNoWorkers page for the ingress's queue. The two roles must read the same queue (as the service reads the
 * values: blank is the default); the chart must refuse values that part them.
 */

interface Outcome {
  rendered: boolean;
  error?: string;
  ingress?: { name: string; prefix: string };
  worker?: { name: string; prefix: string };
}

function queueOf(env: { name: string; value?: string }[], role: string) {
  const plain = Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  const config = loadConfig({
    SERVICE_ROLE: role,
    DATABASE_URL: 'postgresql://webhooks@db.example:5432/webhooks',
    ...(plain.QUEUE_NAME !== undefined ? { QUEUE_NAME: plain.QUEUE_NAME } : {}),
    ...(plain.QUEUE_PREFIX !== undefined ? { QUEUE_PREFIX: plain.QUEUE_PREFIX } : {}),
  });
  return { name: config.queue.name, prefix: config.queue.prefix };
}

function render(set: string[]): Outcome {
  const run = runHelm(templateArgs([], set));
  if (run.status !== 0) return { rendered: false, error: run.stderr.split('\n').find((line) => line.startsWith('Error:')) };
  const objects = parseManifests(run.stdout);
  const envOf = (role: string) => podSpecOf(one(objects, 'Deployment', `-${role}`)).containers[0].env;
  return { rendered: true, ingress: queueOf(envOf('ingress'), 'ingress'), worker: queueOf(envOf('worker'), 'worker') };
}

describe('the ingress and the workers use one queue', () => {
  it.each([
    ['worker.config.QUEUE_NAME only', ['worker.config.QUEUE_NAME=orders'], 'QUEUE_NAME'],
    ['ingress.config.QUEUE_NAME only', ['ingress.config.QUEUE_NAME=orders'], 'QUEUE_NAME'],
    ['worker.config.QUEUE_PREFIX only', ['worker.config.QUEUE_PREFIX=eis'], 'QUEUE_PREFIX'],
    ['both roles, different names', ['ingress.config.QUEUE_NAME=a', 'worker.config.QUEUE_NAME=b'], 'QUEUE_NAME'],
  ])('%s: refused, naming the variable and both values, instead of two roles on two queues', (_name, set, variable) => {
    const outcome = render(set);
    expect({ rendered: outcome.rendered, sameQueue: outcome.rendered ? JSON.stringify(outcome.ingress) === JSON.stringify(outcome.worker) : undefined }).toEqual({
      rendered: false,
      sameQueue: undefined,
    });
    expect(outcome.error).toContain(variable);
    expect(outcome.error).toContain('ingress');
    expect(outcome.error).toContain('worker');
  });

  it.each([
    ['the defaults', []],
    ['config.QUEUE_NAME for both', ['config.QUEUE_NAME=orders']],
    ['the same value set in each role', ['ingress.config.QUEUE_NAME=orders', 'worker.config.QUEUE_NAME=orders']],
    ['a role’s value equal to the shared one', ['config.QUEUE_PREFIX=eis', 'worker.config.QUEUE_PREFIX=eis']],
    ['a blank role value (the service’s default) next to the default', ['--set-string', 'worker.config.QUEUE_NAME= ']],
  ])('%s: rendered, both roles on the same queue', (_name, set) => {
    const args = set[0] === '--set-string' ? [] : set;
    const outcome = set[0] === '--set-string' ? renderWithExtra(set) : render(args);
    expect(outcome.rendered).toBe(true);
    expect(outcome.ingress).toEqual(outcome.worker);
  });
});

function renderWithExtra(extra: string[]): Outcome {
  const run = runHelm(templateArgs([], [], extra));
  if (run.status !== 0) return { rendered: false, error: run.stderr.split('\n').find((line) => line.startsWith('Error:')) };
  const objects = parseManifests(run.stdout);
  const envOf = (role: string) => podSpecOf(one(objects, 'Deployment', `-${role}`)).containers[0].env;
  return { rendered: true, ingress: queueOf(envOf('ingress'), 'ingress'), worker: queueOf(envOf('worker'), 'worker') };
}
