import { AppError } from '../shared/errors/app-error.js';

/**
 * A query string's parameters without the empty ones: `?status=&provider=stripe` filters on the provider only.
 * The contract writes the list route as `GET /admin/events?status=&provider=&limit=&cursor=`, and a form or a script
 * with an unset variable (`?status=$STATUS`) sends a parameter with no value; either is a parameter not given, not
 * one given as "" (which no status, limit or cursor is, so it was answered 400).
 *
 * Only the route's own parameters, each once: anything else is a 400 naming it. A name the route does not take was
 * dropped before, and with it the filter it was meant to be: `?stauts=DEAD_LETTER`, or `?status[]=DEAD_LETTER` (the
 * query parser keeps brackets in the name), listed and counted every event, as if no filter had been asked for. A
 * parameter given twice came back as zod's "expected string, received array", which did not say what was wrong.
 */
export function presentQueryParameters(query: Record<string, unknown>, known: readonly string[]): Record<string, string> {
  const present: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!known.includes(name)) {
      throw new AppError('BAD_REQUEST', `${JSON.stringify(name.slice(0, 64))}: not a parameter of this route (it takes ${known.join(', ')})`);
    }
    if (typeof value !== 'string') throw new AppError('BAD_REQUEST', `${name}: given more than once; give it once`);
    if (value !== '') present[name] = value;
  }
  return present;
}
