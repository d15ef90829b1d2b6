import { execFileSync } from 'node:child_process';
import net from 'node:net';

// Jest loads this file outside the test module system, so it imports nothing of the project's.
function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Finds the PostgreSQL and Redis the suite runs against: DATABASE_URL / REDIS_URL when set, else localhost.
 * When neither answers and a Docker engine does, starts both with testcontainers. No mock ever stands in.
 */
export default async function globalSetup(): Promise<void> {
  const databaseUrl = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
  const pgUp = await canConnect(databaseUrl.hostname, Number(databaseUrl.port || 5432));
  const redisUp = await canConnect(redisUrl.hostname, Number(redisUrl.port || 6379));
  if (pgUp && redisUp) {
    process.env.DATABASE_URL = databaseUrl.toString();
    process.env.REDIS_URL = redisUrl.toString();
    return;
  }
  if (!dockerAvailable()) {
    throw new Error(
      `Tests need PostgreSQL (${databaseUrl.host}: ${pgUp ? 'up' : 'down'}) and Redis (${redisUrl.host}: ${redisUp ? 'up' : 'down'}); ` +
        'set DATABASE_URL and REDIS_URL, or run a Docker engine so testcontainers can start them.',
    );
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  if (!pgUp) {
    const postgres = await new PostgreSqlContainer('postgres:16-alpine').withUsername('postgres').withPassword('postgres').start();
    process.env.DATABASE_URL = postgres.getConnectionUri();
    (globalThis as Record<string, unknown>).__POSTGRES_CONTAINER__ = postgres;
  }
  if (!redisUp) {
    const redis = await new RedisContainer('redis:7-alpine').start();
    process.env.REDIS_URL = redis.getConnectionUrl();
    (globalThis as Record<string, unknown>).__REDIS_CONTAINER__ = redis;
  }
}

function dockerAvailable(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
