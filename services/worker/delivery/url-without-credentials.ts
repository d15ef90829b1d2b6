/** Each URL's safe form, computed once: the URLs come from configuration, and deliveries ask for them every time. */
const safeForms = new Map<string, string>();
const MAX_CACHED = 1000;

/** A URL fit for logs and traces: user and password (a broker or destination URL may carry them) are dropped. */
export function withoutCredentials(url: string): string {
  let safe = safeForms.get(url);
  if (safe === undefined) {
    safe = strip(url);
    if (safeForms.size < MAX_CACHED) safeForms.set(url, safe);
  }
  return safe;
}

function strip(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}
