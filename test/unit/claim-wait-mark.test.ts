/**
 * One claim's `claim_waiting` mark, as its concurrent deliveries drive it: set only while nothing was sent and every
 * delivery still running waits for a slot, and its statements in the order they were decided (a mark still in flight
 * when a delivery goes on to send lands before the confirm that clears it, never after).
 */
import { describe, expect, it } from '@jest/globals';
import { ClaimWaitMark } from '../../services/worker/processing/claim-wait-mark.js';
import type { ClaimedEvent } from '../../services/worker/processing/processing-store.js';

const event = { id: 'e1', claimToken: 't1' } as ClaimedEvent;
/** Statements go out once the chain before them settled: a turn of the event loop lets them. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A store whose statements answer only when the test lets them, logging when each was sent and when it landed. */
function slowStore() {
  const log: string[] = [];
  const pending: (() => void)[] = [];
  const statement = <T>(name: string, value: T) => {
    log.push(`${name} sent`);
    return new Promise<T>((resolve) => pending.push(() => (log.push(`${name} landed`), resolve(value))));
  };
  const store = { markWaiting: () => statement('mark', undefined), stillHolds: () => statement('confirm', true) };
  /** Lets every statement sent so far answer, then lets the chain move on. */
  const answer = async () => {
    for (const resolve of pending.splice(0)) resolve();
    await tick();
  };
  return { log, store, answer };
}

describe('ClaimWaitMark', () => {
  it('marks once every delivery still running waits, and confirms only after the mark landed', async () => {
    const { log, store, answer } = slowStore();
    const mark = new ClaimWaitMark(store, event, 2);
    const [a, b] = [mark.delivery(), mark.delivery()];
    a.waits();
    await tick();
    expect(log).toEqual([]); // b is still on its way: not only waiting
    b.waits();
    await tick();
    expect(log).toEqual(['mark sent']);
    const holds = a.sends(false); // a goes on to send, on time, while the mark is still in flight: it clears it
    await tick();
    expect(log).toEqual(['mark sent']);
    await answer();
    await answer();
    await expect(holds).resolves.toBe(true);
    expect(log).toEqual(['mark sent', 'mark landed', 'confirm sent', 'confirm landed']);
    a.ended(true); // sent: b waiting alone must not mark again
    await tick();
    expect(log).toHaveLength(4);
  });

  it('a delivery on time of a claim not marked sends no statement, but goes only once those queued before it landed', async () => {
    const { log, store, answer } = slowStore();
    const mark = new ClaimWaitMark(store, event, 3);
    const [a, b, c] = [mark.delivery(), mark.delivery(), mark.delivery()];
    a.waits();
    b.waits();
    c.waits();
    await tick();
    expect(log).toEqual(['mark sent']);
    const aHolds = a.sends(false); // clears the mark
    const bHolds = b.sends(false); // the mark is cleared by a's statement: none of its own, but after it
    let bWent = false;
    void bHolds.then(() => (bWent = true));
    await answer();
    expect(log).toEqual(['mark sent', 'mark landed', 'confirm sent']);
    expect(bWent).toBe(false);
    await answer();
    await expect(aHolds).resolves.toBe(true);
    await expect(bHolds).resolves.toBe(true);
    expect(log).toEqual(['mark sent', 'mark landed', 'confirm sent', 'confirm landed']);
    const cHolds = c.sends(true); // late: it confirms, the mark cleared or not
    await tick();
    await answer();
    await expect(cHolds).resolves.toBe(true);
    expect(log.slice(4)).toEqual(['confirm sent', 'confirm landed']);
  });

  it('marks again when the only delivery not waiting ends without sending (put off)', async () => {
    const { log, store } = slowStore();
    const mark = new ClaimWaitMark(store, event, 2);
    const [a, b] = [mark.delivery(), mark.delivery()];
    a.waits();
    b.ended(false);
    await tick();
    expect(log).toEqual(['mark sent']);
  });

  it('never marks once a delivery sent, nor for deliveries that go at once', async () => {
    const { log, store } = slowStore();
    const mark = new ClaimWaitMark(store, event, 3);
    const [a, b, c] = [mark.delivery(), mark.delivery(), mark.delivery()];
    a.ended(true);
    b.waits();
    c.waits();
    c.ended(false);
    await tick();
    expect(log).toEqual([]);
  });
});
