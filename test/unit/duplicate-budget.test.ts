import { describe, expect, it } from '@jest/globals';
import { DuplicateBudget } from '../../services/ingress/ingest/duplicate-budget.js';

const webhook = (externalId: string, replayKey?: string) => ({ provider: 'github', externalId, replayKey });
/** A PayPal delivery: its transmission may carry one event only (see ReplayKey's `reject`). */
const transmission = (externalId: string, transmissionId: string) =>
  ({ provider: 'paypal', externalId, replayKey: `transmission:${transmissionId}`, replayKeyOnReuse: 'reject' as const });

describe('DuplicateBudget', () => {
  it('answers `limit` duplicates a window, then refuses; before storing, only a remembered re-send of a client past it', () => {
    const budget = new DuplicateBudget({ limit: 3, now: () => 0 });
    const captured = webhook('d-1', 'sha256:aa');
    expect([1, 2, 3, 4].map(() => budget.recordDuplicate(captured, true, 'a'))).toEqual(['within', 'within', 'spent', 'over']);
    expect(budget.refusesBeforeStoring(captured, () => 'a')).toBe(true);
    // The same body under another (unsigned) id: remembered by the replay key the stored event holds.
    expect(budget.refusesBeforeStoring(webhook('d-2', 'sha256:aa'), () => 'a')).toBe(true);
    // Another client, or a webhook not remembered (a new event), is not refused before storing.
    expect(budget.refusesBeforeStoring(captured, () => 'b')).toBe(false);
    expect(budget.refusesBeforeStoring(webhook('d-3', 'sha256:bb'), () => 'a')).toBe(false);
  });

  it('remembers nothing for a client within its budget, and reads no client key for a webhook not remembered', () => {
    const budget = new DuplicateBudget({ limit: 2, now: () => 0 });
    budget.recordDuplicate(webhook('d-1', 'sha256:aa'), true, 'a');
    expect(budget.knownResends).toBe(0);
    budget.recordDuplicate(webhook('d-1', 'sha256:aa'), true, 'a');
    expect(budget.knownResends).toBe(2);
    expect(budget.refusesBeforeStoring(webhook('d-9'), () => { throw new Error('client key read'); })).toBe(false);
  });

  it('remembers a duplicate by its id only when no stored event holds its replay key', () => {
    const budget = new DuplicateBudget({ limit: 1, now: () => 0 });
    expect(budget.recordDuplicate(webhook('stored', 'sha256:never-stored'), false, 'a')).toBe('spent');
    expect(budget.refusesBeforeStoring(webhook('stored', 'sha256:never-stored'), () => 'a')).toBe(true);
    expect(budget.refusesBeforeStoring(webhook('its-own', 'sha256:never-stored'), () => 'a')).toBe(false);
  });

  it('forgets re-sends after a window, and keeps at most maxKnown', () => {
    let now = 0;
    const budget = new DuplicateBudget({ limit: 1, windowMs: 60_000, maxKnown: 2, now: () => now });
    for (const id of ['d-1', 'd-2', 'd-3']) budget.recordDuplicate(webhook(id), false, 'a');
    expect(budget.knownResends).toBe(2);
    expect(['d-1', 'd-2', 'd-3'].map((id) => budget.refusesBeforeStoring(webhook(id), () => 'a'))).toEqual([false, true, true]);
    expect(budget.retryAfterSeconds()).toBe(60);
    now = 60_000;
    // A new window: the client's budget is renewed, and what was remembered is forgotten.
    expect(budget.refusesBeforeStoring(webhook('d-2'), () => 'a')).toBe(false);
    expect(budget.recordDuplicate(webhook('d-2'), false, 'a')).toBe('spent');
  });

  it('refuses a PayPal webhook before storing only as the same delivery re-sent: its event id and that transmission', () => {
    const budget = new DuplicateBudget({ limit: 1, now: () => 0 });
    expect(budget.recordDuplicate(transmission('WH-1', 't-1'), true, 'a')).toBe('spent');
    expect(budget.refusesBeforeStoring(transmission('WH-1', 't-1'), () => 'a')).toBe(true);
    // PayPal's retry (a new transmission) must reach storage, which binds the transmission to the event: refused
    // before, the transmission stayed unbound and another body with its CRC32 could be stored under it.
    expect(budget.refusesBeforeStoring(transmission('WH-1', 't-2'), () => 'a')).toBe(false);
    // Another event under the remembered transmission: storage refuses it as a forgery (401), not the budget (429).
    expect(budget.refusesBeforeStoring(transmission('WH-FORGED', 't-1'), () => 'a')).toBe(false);
  });

  it('remembers the retry a PayPal client past its budget re-sends once storage has bound its transmission', () => {
    const budget = new DuplicateBudget({ limit: 1, now: () => 0 });
    budget.recordDuplicate(transmission('WH-1', 't-1'), true, 'a');
    // The retry's first arrival: a duplicate by id, its transmission bound by that very statement (not "held" before).
    expect(budget.recordDuplicate(transmission('WH-1', 't-2'), false, 'a')).toBe('over');
    expect(budget.refusesBeforeStoring(transmission('WH-1', 't-2'), () => 'a')).toBe(true);
  });

  it('says what a refused webhook is: stored already, or another body under a stored id (known after storage only)', () => {
    const budget = new DuplicateBudget({ limit: 1, now: () => 0 });
    const github = (externalId: string, digest: string) => ({ ...webhook(externalId, `sha256:${digest}`), replayKeyOnReuse: 'duplicate' as const });
    const stripe = (externalId: string) => ({ provider: 'stripe', externalId });
    // After storage: a duplicate by its id whose body's digest no stored event holds is another body under that id.
    expect(budget.refusalAfterStoring(github('d-1', 'other'), false)).toBe('another-body-under-id');
    expect(budget.refusalAfterStoring(github('d-1', 'aa'), true)).toBe('stored-already');
    expect(budget.refusalAfterStoring(stripe('evt_1'), false)).toBe('stored-already');
    expect(budget.refusalAfterStoring(transmission('WH-1', 't-2'), false)).toBe('stored-already');
    // Before storage: remembered by its body's digest, it is stored; by its unsigned id only, the body is unknown.
    budget.recordDuplicate(github('d-1', 'aa'), true, 'a');
    budget.recordDuplicate(stripe('evt_1'), false, 'a');
    expect(budget.refusalBeforeStoring(github('d-1', 'aa'), () => 'a')).toBe('stored-already');
    expect(budget.refusalBeforeStoring(github('d-2', 'aa'), () => 'a')).toBe('stored-already');
    expect(budget.refusalBeforeStoring(github('d-1', 'bb'), () => 'a')).toBe('event-under-id');
    expect(budget.refusalBeforeStoring(stripe('evt_1'), () => 'a')).toBe('stored-already');
    expect(budget.refusalBeforeStoring(github('d-1', 'bb'), () => 'b')).toBeUndefined();
  });
});
