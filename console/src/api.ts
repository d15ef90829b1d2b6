/**
 * The admin API from the browser: same origin (relative URLs, so a path prefix in front of the service works), the
 * token in the Authorization header only (never in a URL), nothing stored by the HTTP cache (the API says
 * no-store). Answers carry ETags; a poll that finds nothing changed gets 304 and the same object back, so the view
 * can skip re-rendering.
 */

import { parseRetryAfter } from './retry-backoff.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** A 429's or 503's `Retry-After`, in ms from the answer: a failed load is not tried again sooner (retry-backoff.ts). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Api {
  get<T>(path: string, options?: { signal?: AbortSignal }): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

const CACHE_ENTRIES = 64;

export function createApi(token: string, onUnauthorized: () => void): Api {
  const cache = new Map<string, { etag: string; data: unknown }>();

  async function request<T>(method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    const cached = method === 'GET' ? cache.get(path) : undefined;
    if (cached) headers['if-none-match'] = cached.etag;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
        signal,
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, 'The service could not be reached. Check your connection; the console retries on its own.');
    }
    if (response.status === 304 && cached) return cached.data as T;
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      if (response.status === 401) onUnauthorized();
      const message = (json as { message?: unknown } | undefined)?.message;
      const retryAfterMs = response.status === 429 || response.status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
      throw new ApiError(response.status, typeof message === 'string' ? message : `The service answered ${response.status}`, retryAfterMs);
    }
    const etag = response.headers.get('etag');
    if (method === 'GET' && etag) {
      cache.delete(path);
      cache.set(path, { etag, data: json });
      if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    }
    return json as T;
  }

  return {
    get: (path, options) => request('GET', path, undefined, options?.signal),
    post: (path, body) => request('POST', path, body),
  };
}

/** A query string from the set values only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
