import { describe, expect, it } from '@jest/globals';
import { DatabaseAwayError, tagDatabaseAway } from '../../services/worker/processing/database-away-error.js';

const pgError = (code: string, message = `pg ${code}`) => Object.assign(new Error(message), { code });
const tagged = async (error: unknown) => (await tagDatabaseAway(Promise.reject(error)).catch((thrown: unknown) => thrown)) instanceof DatabaseAwayError;

describe('tagDatabaseAway: which failures of a statement made before a send give the event back (no attempt)', () => {
  it.each([
    ['a connection cut', new Error('Connection terminated unexpectedly')],
    ['a refused connect', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['an administrator shutdown', pgError('57P01')],
    ['too many connections', pgError('53300')],
    ['a read-only node after a failover', pgError('25006')],
    ['a column a migration not run yet adds', pgError('42703')],
    ['a wrapped driver error (TypeORM)', Object.assign(new Error('query failed'), { driverError: pgError('57P03') })],
  ])('%s: the database is away', async (_what, error) => {
    expect(await tagged(error)).toBe(true);
  });

  // These may be the one statement's or the one row's, while the run's claim and finish go through: given back, the
  // event would come back every second for ever; they stay the delivery's failed attempt.
  it.each([
    ['a statement timeout', pgError('57014')],
    ['an I/O error reading a block', pgError('58030')],
    ['a wrapped statement timeout', Object.assign(new Error('query failed'), { driverError: pgError('57014') })],
    ['a fault of the statement', pgError('42601')],
    ['no code at all', new Error('boom')],
  ])('%s: a failed attempt, as before', async (_what, error) => {
    expect(await tagged(error)).toBe(false);
  });

  it("passes the statement's result through", async () => {
    await expect(tagDatabaseAway(Promise.resolve(42))).resolves.toBe(42);
  });
});
