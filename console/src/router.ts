import { useEffect, useState } from 'preact/hooks';

/**
 * Views live in the URL's fragment (`#/events?status=DEAD_LETTER`, `#/events/<id>`, `#/overview`): links can be
 * shared and bookmarked, back and forward work, and the server serves one page. Filters only; never the token.
 */
export interface Route {
  path: string;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [path = '', search = ''] = raw.split('?', 2);
  return { path: path.startsWith('/') ? path : '/events', params: new URLSearchParams(search) };
}

export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

/**
 * A path segment of a link, decoded. A malformed escape (`#/events/%E0%A4%A`, in a link anyone can send an operator)
 * comes back as written: decodeURIComponent's exception, thrown while rendering, left the console blank, and on every
 * reload of that link too.
 */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function navigate(path: string, params: Record<string, string | undefined> = {}, options: { replace?: boolean } = {}): void {
  const target = href(path, params);
  if (options.replace) {
    history.replaceState(null, '', target);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = target;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
