/**
 * After a failover the old primary, now a replica, answers every write on the connections it kept with READONLY: each
 * Redis connection must drop and reconnect (the endpoint leads the new connection to the new primary), sending the
 * refused command again where commands wait for the connection. Replies as Redis 7.0 gives them (checked with
 * redis-cli against a replica) and as Redis 6 wraps them in a script error.
 */
import { describe, expect, it } from '@jest/globals';
import { isReadOnlyRefusal } from '../../services/shared/queue/redis-read-only.js';
import { redisOptions, type RedisConnectionRole } from '../../services/shared/queue/redis-connection.js';

const readOnly = new Error("READONLY You can't write against a read only replica.");
const readOnlyInScript = new Error("READONLY You can't write against a read only replica. script: 8b2ae6dd, on @user_script:1.");
const readOnlyInScriptRedis6 = new Error(
  "ERR Error running script (call to f_8b2ae6dd): @user_script:1: @user_script: 1: -READONLY You can't write against a read only replica.",
);
const others = [
  new Error('OOM command not allowed when used memory > \'maxmemory\'.'),
  new Error('EXECABORT Transaction discarded because of previous errors.'),
  new Error('ERR Error running script (call to f_1): @user_script:9: job READONLY-ish data'),
  new Error("Stream isn't writeable and enableOfflineQueue options is false"),
];
const selectRefused = Object.assign(new Error('ERR DB index is out of range'), { command: { name: 'select', args: ['16'] } });

const reconnectOnError = (role: RedisConnectionRole) => redisOptions({ host: 'localhost', port: 6379 }, role).reconnectOnError!;

describe('READONLY replies', () => {
  it('are recognised as a replica refusing a write, in every form Redis gives them, and nothing else is', () => {
    expect([readOnly, readOnlyInScript, readOnlyInScriptRedis6].map(isReadOnlyRefusal)).toEqual([true, true, true]);
    expect(others.map(isReadOnlyRefusal)).toEqual(others.map(() => false));
  });

  it('drop the connection of every role; the worker and state connections send the refused command again', () => {
    expect((['producer', 'worker', 'state'] as const).map((role) => reconnectOnError(role)(readOnlyInScript))).toEqual([1, 2, 2]);
    for (const role of ['producer', 'worker', 'state'] as const) {
      expect(others.map(reconnectOnError(role))).toEqual(others.map(() => false));
      expect(reconnectOnError(role)(selectRefused)).toBe(true);
    }
  });
});
