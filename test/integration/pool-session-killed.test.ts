import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testServiceUrls } from '../support/test-services.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe("the service's pg pool when PostgreSQL ends a checked-out client's session", () => {
  // Found by the fault suite: a worker died with "Unhandled 'error' event" when a session was killed right after it
  // connected (the checkout and the termination arrived in one read, before the caller could add a listener).
  it('keeps the process alive: the client fails its next query, the pool serves the next caller', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/integration/support/checked-out-client-killed.ts', testServiceUrls().databaseUrl], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.includes("Unhandled 'error' event") }).toEqual({
      status: 0,
      stdout: 'survived',
      stderr: false,
    });
  });
});
