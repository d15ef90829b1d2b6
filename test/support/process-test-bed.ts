import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpSink } from './http-sink.js';
import { freePort, ServiceProcess } from './service-process.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from './test-redis.js';

/**
 * What a test of service processes starts them against: a database and a queue namespace of its own, a destination
 * sink, and a folder for the files they read (ROUTES_FILE, PROVIDERS_FILE). `close()` kills every process it made and
 * removes the rest.
 */
export interface ProcessTestBed {
  db: TestDatabase;
  ns: TestQueueNamespace;
  sink: HttpSink;
  /** Writes `text` to `name` in the bed's folder; returns its path. */
  writeFile(name: string, text: string): string;
  /**
   * A service process (not started) on the bed's database and queue: SERVICE_ROLE all, no pod deletion cost, then
   * `env`. Killed by `killProcesses()` and `close()`.
   */
  serviceProcess(env: Record<string, string>): Promise<ServiceProcess>;
  /** Kills the processes made so far (between tests that each start their own). */
  killProcesses(): Promise<void>;
  close(): Promise<void>;
}

export async function createProcessTestBed(): Promise<ProcessTestBed> {
  const db = await createTestDatabase();
  const ns = createQueueNamespace();
  const sink = await new HttpSink().start();
  const dir = mkdtempSync(join(tmpdir(), 'service-process-test-'));
  const processes: ServiceProcess[] = [];
  const killProcesses = async () => {
    await Promise.all(processes.splice(0).map((child) => child.kill()));
  };
  return {
    db,
    ns,
    sink,
    writeFile(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    async serviceProcess(env) {
      const child = new ServiceProcess(
        { SERVICE_ROLE: 'all', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, POD_DELETION_COST_ENABLED: 'false', ...env },
        await freePort(),
      );
      processes.push(child);
      return child;
    },
    killProcesses,
    async close() {
      await killProcesses();
      await sink.stop();
      rmSync(dir, { recursive: true, force: true });
      await ns.cleanup();
      await db.drop();
    },
  };
}
