/**
 * README (Configuration): "Invalid values stop the process at start, before it connects to anything or migrates,
 * with one line naming the variable"; .env.example: HOST is "An IP address (0.0.0.0, ::, 127.0.0.1) or a host name".
 * A misspelt host name (HOST=localhots) is such a value. The PORT and EADDRNOTAVAIL cases already get one line naming
 * the variable (services/runtime/port-check.ts), found by the port check before the migrations.
 *
 * Found: the port check resolves HOST, sees ENOTFOUND and lets it pass; the all role then creates the database and
 * applies the migrations, and the listener's error ends the start as `Failed to start: getaddrinfo ENOTFOUND
 * localhots`: the line names neither HOST nor what to do.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { dropDatabase, withAdminClient } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';

const name = `webhooks_hosttypo_${process.pid}_${randomBytes(4).toString('hex')}`;
let service: ServiceProcess | undefined;

afterAll(async () => {
  await service?.kill();
  await dropDatabase(name);
});

describe('HOST that does not resolve (a typo)', () => {
  it('stops the start with one line naming HOST, before the migrations', async () => {
    const url = new URL(testServiceUrls().databaseUrl);
    url.pathname = `/${name}`;
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: url.toString(),
        REDIS_URL: testServiceUrls().redisUrl,
        QUEUE_PREFIX: `hosttypo-${randomBytes(4).toString('hex')}`,
        // .invalid never resolves (RFC 2606); a typo such as "localhots" behaves the same.
        HOST: 'localhots.invalid',
      },
      await freePort(),
    );
    await service.start({ waitForReady: false });
    const { code } = await service.exited(60_000);
    const failures = service.logs.filter((line) => line.startsWith('Failed to start:') || line.startsWith('Invalid configuration:'));
    const databaseCreated = await withAdminClient(async (client) => ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0);
    expect({ code, failures, databaseCreated }).toEqual({
      code: expect.any(Number),
      failures: [expect.stringMatching(/\bHOST\b/)],
      databaseCreated: false,
    });
    expect(code).not.toBe(0);
  }, 90_000);
});
