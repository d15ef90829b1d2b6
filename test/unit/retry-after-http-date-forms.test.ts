/**
 * `Retry-After` as an HTTP-date in each of the three forms RFC 9110 (5.6.7) has every recipient accept: IMF-fixdate
 * (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and ANSI C's
 * asctime (`Sun Nov  6 08:49:37 1994`), all three GMT whatever the worker's time zone. The RFC 850 form was not read
 * at all (a 429 asking for a minute was retried after the backoff), and asctime was read in the process's time zone
 * (in a pod with TZ=Europe/Berlin a minute ahead read as an hour in the past: retried at once).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { parseRetryAfter } from '../../services/worker/delivery/delivery-result.js';

const now = Date.parse('2026-11-30T12:00:00Z');

/** parseRetryAfter(value, now) run by a Node process in time zone `tz` (jest's process.env does not reach Date). */
async function parsedIn(tz: string, value: string): Promise<number | undefined> {
  const module = fileURLToPath(new URL('../../services/worker/delivery/delivery-result.ts', import.meta.url));
  const script = `
    import { registerHooks } from 'node:module';
    // The sources import siblings as './x.js': the .ts beside it.
    registerHooks({ resolve: (specifier, context, next) => {
      try { return next(specifier, context); } catch (error) { if (specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context); throw error; }
    } });
    const { parseRetryAfter } = await import(${JSON.stringify(module)});
    process.stdout.write(JSON.stringify(parseRetryAfter(process.argv[1], ${now}) ?? null));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-warnings', '--input-type=module', '-e', script, value], { env: { ...process.env, TZ: tz } });
  return (JSON.parse(stdout) as number | null) ?? undefined;
}

describe('Retry-After HTTP-dates', () => {
  it('reads the RFC 850 form (two-digit year) as GMT', () => {
    expect(parseRetryAfter('Monday, 30-Nov-26 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Monday, 30-Nov-26 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Tuesday, 01-Dec-26 12:00:00 GMT', now)).toBe(3_600_000);
  });

  it('reads the asctime form as GMT, in a worker whose time zone is not UTC too', async () => {
    expect(parseRetryAfter('Mon Nov 30 12:01:00 2026', now)).toBe(60_000);
    expect(parseRetryAfter('Tue Dec  1 12:00:00 2026', now)).toBe(3_600_000);
    for (const tz of ['Europe/Berlin', 'America/New_York']) {
      expect({ tz, ms: await parsedIn(tz, 'Mon Nov 30 12:01:00 2026') }).toEqual({ tz, ms: 60_000 });
    }
  });

  it('still reads IMF-fixdate, and ignores what is no date', () => {
    expect(parseRetryAfter('Mon, 30 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    for (const value of ['Monday, 30-Nov-26', 'Someday, 30-Nov-26 12:01:00 GMT', 'Monday, 31-Nov-26 12:01:00 GMT']) expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
