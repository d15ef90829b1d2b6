/**
 * `base` (a destination's static headers) with `own` (the headers a delivery sets itself) set over it, names compared
 * case-insensitively, as HTTP compares them: a field of `base` named like one of `own` in any case is left out. Each
 * field is then sent once, with `own`'s value; merged by exact name, a static `Webhook-Id` or `Content-Type` went out
 * next to the delivery's own `webhook-id` / `content-type`, and a receiver read both values joined or either one.
 */
export function overrideHeaders(base: Readonly<Record<string, string>> | undefined, own: Readonly<Record<string, string>>): Record<string, string> {
  const ownNames = new Set(Object.keys(own).map((name) => name.toLowerCase()));
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries(base ?? {})) {
    if (!ownNames.has(name.toLowerCase())) merged[name] = value;
  }
  return Object.assign(merged, own);
}
