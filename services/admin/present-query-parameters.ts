/**
 * A query string's parameters without the empty ones: `?status=&provider=stripe` filters on the provider only.
 * The contract writes the list route as `GET /admin/events?status=&provider=&limit=&cursor=`, and a form or a script
 * with an unset variable (`?status=$STATUS`) sends a parameter with no value; either is a parameter not given, not
 * one given as "" (which no status, limit or cursor is, so it was answered 400).
 */
export function presentQueryParameters(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ''));
}
