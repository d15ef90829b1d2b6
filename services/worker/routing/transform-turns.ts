import { setImmediate as nextTurn } from 'node:timers/promises';

/** The transform evaluation running now, or the last one (settled): the next one starts after it. */
let latest: Promise<unknown> = Promise.resolve();

/**
 * Runs transform evaluations one at a time in this process, each in a turn of the event loop of its own.
 *
 * JSONata's time limit (TRANSFORM_TIMEOUT_MS) is wall-clock time since the evaluation began, checked between its
 * steps, and an evaluation's steps are promise continuations: evaluations started in one turn (the transforms of an
 * event routed to several transformed routes, started once its payload is read) interleaved step by step, each was
 * charged the time of all of them, and every one failed the limit once together they passed it, though each alone
 * ran well within it. JavaScript runs one of them at a time anyway, so taking turns costs no throughput; and as each
 * starts in a turn of its own, the worker's I/O (job locks, heartbeats, sends) is served between two evaluations.
 */
export function inTurn<T>(evaluate: () => Promise<T>): Promise<T> {
  const turn = latest.then(async () => {
    await nextTurn();
    return evaluate();
  });
  latest = turn.catch(() => undefined);
  return turn;
}
