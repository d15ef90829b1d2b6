import type { Config } from '../config/config.js';

/**
 * Where the service's Redis is and which db it uses, as a start error names them: from REDIS_URL, else REDIS_HOST and
 * REDIS_PORT (db 0). Never the URL itself, which carries the password.
 */
export function redisTarget(redis: Config['redis']): { where: string; db: string; key: 'REDIS_URL' | 'REDIS_HOST' } {
  if (!redis.url) return { where: `${redis.host}:${redis.port}`, db: '0', key: 'REDIS_HOST' };
  const url = new URL(redis.url);
  return { where: `${url.hostname}:${url.port || 6379}`, db: url.pathname.slice(1) || '0', key: 'REDIS_URL' };
}
