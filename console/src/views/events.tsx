import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, query } from '../api.js';
import { useConsole } from '../app.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { agoClock, EventRow } from '../components/event-row.js';
import { IsolatedText } from '../components/isolated-text.js';
import { LivePausedNote } from '../components/live-paused-note.js';
import { RetryNote } from '../components/retry-note.js';
import { formatNumber, formatTimeSeconds, STATUS_LABELS } from '../format.js';
import { usePolled, whenVisible } from '../hooks.js';
import { retryAfterFailure, type Retry } from '../retry-backoff.js';
import { navigate, parseHash } from '../router.js';
import { useDraft } from '../use-draft.js';
import { STATUSES, type EventItem, type EventPage, type EventStatus, type Facets, type StatusCounts } from '../types.js';

const PAGE_SIZE = 50;
/** Most ids one POST /admin/events/replay takes (MAX_REPLAY_IDS in services/admin/admin-router.ts). */
const REPLAY_BATCH = 500;
/** How often the list and the counts are refreshed while live updates are on and the tab is visible. */
const LIVE_INTERVAL_MS = 4000;
/**
 * Past this many rows loaded, the list's live refresh pauses itself (the counts go on): a refresh reads every row
 * shown, 500 a request, and puts them all into the table; at 2,500 rows that froze the page for half a second every
 * 4 s and made each "Load more" take seconds. The operator goes back to the newest rows, live again, with a button.
 */
const LIVE_ROW_LIMIT = 1000;

const RANGES: { value: string; label: string; ms?: number }[] = [
  { value: '', label: 'Any time' },
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { value: 'custom', label: 'Custom range…' },
];

/** The filters, as they are kept in the URL fragment. */
interface Filters {
  status?: string;
  provider?: string;
  eventType?: string;
  q?: string;
  range?: string;
  /**
   * Custom range, as UTC instants (ISO 8601, e.g. 2026-06-01T09:30:00Z), so that a shared link means the same events
   * in every time zone; the inputs show them in local time. A link from before (datetime-local values, no zone) is
   * read as local time, as it was, and its URL rewritten to the instants.
   */
  from?: string;
  to?: string;
}

const filtersOf = (params: URLSearchParams): Filters => ({
  status: params.get('status') ?? undefined,
  provider: params.get('provider') ?? undefined,
  eventType: params.get('eventType') ?? undefined,
  q: params.get('q') ?? undefined,
  range: params.get('range') ?? undefined,
  from: params.get('from') ?? undefined,
  to: params.get('to') ?? undefined,
});

/**
 * The filters the URL holds now: a change navigated to but not rendered yet is in them. `rendered` if the URL has
 * left the events list meanwhile.
 */
const urlFilters = (rendered: Filters): Filters => {
  const route = parseHash(location.hash);
  return route.path === '/events' ? filtersOf(route.params) : rendered;
};

const hasAnyFilter = (filters: Filters) => Object.values(filters).some(Boolean);

/** What a first page of results says to a screen-reader user: the same words the list shows. */
const resultText = (page: EventPage, filtered: boolean) =>
  page.items.length === 0
    ? emptyText(filtered)
    : `Showing ${formatNumber(page.items.length)} event${page.items.length === 1 ? '' : 's'}${page.nextCursor ? ', more can be loaded' : ''}.`;

const emptyText = (filtered: boolean) => (filtered ? 'No event matches these filters.' : 'No events received yet.');

/** Ends with a zone (Z or ±hh:mm): an instant; without one, a local date and time. */
const hasZone = (value: string) => /(?:Z|[+-]\d\d:?\d\d)$/i.test(value);

/**
 * A range bound as a UTC instant (ISO 8601, no milliseconds when they are 0). A value without a zone (an
 * <input type="datetime-local"> value, or an old link) is local time: JavaScript reads a date-time with no zone so.
 */
const toInstant = (value: string | undefined) => {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString().replace('.000Z', 'Z');
};

const pad = (n: number) => String(n).padStart(2, '0');

/** An instant as an <input type="datetime-local"> value, in this browser's time zone. */
const toLocalInput = (value: string | undefined) => {
  const instant = toInstant(value);
  if (!instant) return value ?? '';
  const date = new Date(instant);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
};

/** The filters as the admin API's query parameters (a relative range becomes a time from now). */
function apiFilter(filters: Filters, now = Date.now()) {
  const range = RANGES.find((candidate) => candidate.value === filters.range);
  return {
    status: filters.status,
    provider: filters.provider,
    eventType: filters.eventType,
    q: filters.q,
    from: range?.ms ? new Date(now - range.ms).toISOString() : filters.range === 'custom' ? toInstant(filters.from) : undefined,
    to: filters.range === 'custom' ? toInstant(filters.to) : undefined,
  };
}

/** Most rows one GET /admin/events returns (its largest `limit`, in services/admin/admin-router.ts). */
const MAX_REQUEST_ROWS = 500;

/**
 * How many rows a refresh reads: the rows loaded, rounded up to whole pages (so the requests, and their ETags, stay
 * the same from one refresh to the next while the list does not grow), at least a page.
 */
const refreshLimit = (loaded: number) => Math.max(PAGE_SIZE, Math.ceil(loaded / PAGE_SIZE) * PAGE_SIZE);

/** What the "show the newest" button brings back: one request's worth of rows, under {@link LIVE_ROW_LIMIT}. */
const NEWEST_ROWS = MAX_REQUEST_ROWS;

/**
 * What a load of the list does: `first` its first page (a new filter), `refresh` a live refresh of the rows loaded,
 * `newest` the newest {@link NEWEST_ROWS} rows in place of the list (the way back from a paused long list).
 */
type LoadKind = 'first' | 'refresh' | 'newest';

/**
 * The filter's newest `rows` rows, as one page: {@link MAX_REQUEST_ROWS} a request, each request going on from the
 * previous one's cursor, so that every row the list shows is read again, those loaded with "Load more" far down too
 * (one request alone, at most 500 rows, left the rows further down with the status they were loaded with). Keyset cursors
 * make the chunks meet exactly: an event arriving between two requests goes on top, before the first chunk, and
 * shifts nothing.
 */
async function readNewest(get: (path: string) => Promise<EventPage>, filter: ReturnType<typeof apiFilter>, rows: number): Promise<EventPage> {
  const items: EventItem[] = [];
  let cursor: string | null = null;
  do {
    const page: EventPage = await get(`admin/events${query({ ...filter, limit: Math.min(MAX_REQUEST_ROWS, rows - items.length), cursor })}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null && items.length < rows);
  return { items, nextCursor: cursor };
}

/**
 * Puts a fresh read of the list's newest rows into it: new events on top, changed ones updated in place (those loaded
 * with "Load more" too: the refresh reads as many rows as the list holds, see {@link refreshLimit}), and the ones the
 * fresh rows cover but no longer list (they left the filter, e.g. a replayed dead letter) dropped. The server orders
 * by the microsecond and the list only shows milliseconds, so an event in the same millisecond as the fresh rows' last
 * one may lie either side of it: it is kept (dropping it could hide an event the refresh did not reach).
 *
 * Fresh rows older than the list's last one (the refresh rounds up to whole pages) are left out while the list has a
 * cursor: they are what "Load more" brings next, from the list's own cursor.
 *
 * `gap`: the fresh rows are full and every listed event is older than all of them, so events between the two may be
 * in neither (more arrived since the last look than the refresh reads): the list must restart from the fresh rows and
 * their cursor.
 */
function merge(current: { items: EventItem[]; nextCursor: string | null }, fresh: EventPage): { items: EventItem[]; nextCursor: string | null; gap: boolean } {
  const oldestLoaded = current.items.at(-1);
  const beyond = current.nextCursor !== null && oldestLoaded ? fresh.items.findIndex((item) => item.receivedAt < oldestLoaded.receivedAt) : -1;
  // Nothing fresh as recent as the list's last row: every listed event left the filter; start again from the fresh rows.
  if (beyond === 0) return { items: fresh.items, nextCursor: fresh.nextCursor, gap: true };
  const trimmed = beyond > 0;
  const page = trimmed ? { items: fresh.items.slice(0, beyond), nextCursor: current.nextCursor } : fresh;
  const freshIds = new Set(page.items.map((item) => item.id));
  const oldest = page.items.at(-1);
  const covered = (item: EventItem) => !page.nextCursor || !oldest || item.receivedAt > oldest.receivedAt;
  const rest = current.items.filter((item) => !freshIds.has(item.id) && !covered(item));
  const gap = page.nextCursor !== null && oldest !== undefined && rest.length > 0 && current.items.every((item) => !freshIds.has(item.id) && item.receivedAt < oldest.receivedAt);
  if (gap) return { items: page.items, nextCursor: fresh.nextCursor, gap };
  // The list goes on from its own cursor (the rows it kept are the ones before it), unless it was empty or the fresh
  // rows hold the whole filter.
  const nextCursor = current.items.length === 0 || fresh.nextCursor === null ? fresh.nextCursor : current.nextCursor;
  return { items: [...page.items, ...rest], nextCursor, gap };
}

/**
 * A refresh's rows put into the list, the list kept at the rows the operator loaded: when new events came on top and
 * the fresh read, as long as the list and with more rows beyond it, no longer reaches the list's oldest rows, the list
 * becomes the fresh rows and goes on from their cursor (`gap`: a new cursor, so a "Load more" under way, from the old
 * one, is dropped). Merged, those rows stayed below the new ones for good: the list, and every refresh with it (it
 * reads every row shown), grew by every event that arrived while the console was open, without end. The rows pushed
 * off are what "Load more" brings next. A list that grew during the refresh (a "Load more" answered meanwhile) is
 * merged as before, its new rows kept.
 */
function slideOrMerge(current: { items: EventItem[]; nextCursor: string | null }, fresh: EventPage): { items: EventItem[]; nextCursor: string | null; gap: boolean } {
  const merged = merge(current, fresh);
  const slides = !merged.gap && fresh.nextCursor !== null && fresh.items.length >= current.items.length && merged.items.length > fresh.items.length;
  return slides ? { items: fresh.items, nextCursor: fresh.nextCursor, gap: true } : merged;
}

export function EventsView({ params }: { params: URLSearchParams }) {
  const { api, announce } = useConsole();
  const filters = useMemo(() => filtersOf(params), [params.toString()]);
  const filterKey = JSON.stringify(filters);
  const [list, setList] = useState<{
    key: string;
    /** Counts the list's restarts (a filter change, a first page, a refresh after a gap): a "Load more" answer belongs to one. */
    generation: number;
    items: EventItem[];
    nextCursor: string | null;
    loading: boolean;
    /**
     * Its first page arrived. Until then every load of it is a first page, also one started again by a change that is
     * not the filter's (live updates switched while the first page was on its way, found in CI): as a refresh of an
     * empty list, it took every row of the first page for a new arrival.
     */
    loaded: boolean;
    error?: string;
    /** After a failed load: when it is tried again. */
    retry?: Retry;
    checkedAt?: number;
  }>({
    key: '',
    generation: 0,
    items: [],
    nextCursor: null,
    loading: true,
    loaded: false,
  });
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // The replay rounds a "Replay selected" that stopped partway sent, or was to send, for the events it left selected:
  // sent again, they name those rounds, not the ones the list shows by then (see ReplaySelectedDialog's `rounds`).
  const [unsentRounds, setUnsentRounds] = useState<ReadonlyMap<string, number>>(new Map());
  const [live, setLive] = useState(true);
  /** Counts the operator's "show the newest" clicks: each one reloads the list as its newest rows. */
  const [newestAsked, setNewestAsked] = useState(0);
  const newestDoneRef = useRef(0);
  /** The list (its filter key) whose "Load more" is waiting for an answer: another list's button stays usable. */
  const [loadingMore, setLoadingMore] = useState<string | null>(null);
  const [dialog, setDialog] = useState<'selected' | 'dead' | null>(null);
  const [result, setResult] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const noticeRef = useRef<HTMLParagraphElement>(null);
  const tableRef = useRef<HTMLTableElement>(null);
  const searchDraft = useDraft(filters.q ?? '');
  const typeDraft = useDraft(filters.eventType ?? '');
  const listRef = useRef(list);
  listRef.current = list;
  /** Set while a failed load of the list waits for its retry: runs it now (the "Retry now" button). */
  const retryNowRef = useRef<(() => void) | undefined>(undefined);
  // Every change of the list goes through here, so that an answer arriving before the next render (a refresh right
  // after a "Load more", or the other way round) builds on the list as it is now, not as it was last rendered.
  type ListState = typeof list;
  const commitList = (next: ListState | ((previous: ListState) => ListState)) => {
    listRef.current = typeof next === 'function' ? next(listRef.current) : next;
    setList(listRef.current);
  };

  /**
   * The list paused past {@link LIVE_ROW_LIMIT}: no load of it is to come, so a failed one's error and "Trying again
   * at …" would stay on screen for good, the time passing with nothing tried and "Retry now" doing nothing. They go;
   * the paused note says what the list is doing, and "Show the newest" (whose failure shows) is the way on.
   */
  const clearPausedError = () => {
    if (listRef.current.error !== undefined) commitList((previous) => ({ ...previous, error: undefined, retry: undefined }));
  };

  const setFilters = (next: Filters, options: { replace?: boolean } = {}) => navigate('/events', { ...(next as Record<string, string | undefined>) }, options);
  /**
   * A filter change, made on the filters the URL holds now, not on those this view last rendered: a change just before
   * (a range picked, then a search sent before the view rendered the range) is in the URL only, and building on the
   * rendered filters dropped it.
   */
  const update = (patch: Partial<Filters>) => setFilters({ ...urlFilters(filters), ...patch });

  // A link from before the range was kept as instants (local date-times, no zone): read as this browser's local time,
  // as it was, and the URL rewritten to the instants, so that what the operator shares from here means the same
  // events wherever it is opened. Replaced, not pushed: "back" does not return to the old form.
  useEffect(() => {
    const instant = (value: string | undefined) => (value && !hasZone(value) ? (toInstant(value) ?? value) : value);
    const from = instant(filters.from);
    const to = instant(filters.to);
    if (from !== filters.from || to !== filters.to) setFilters({ ...filters, from, to }, { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filterKey]);

  // The first page, again on each filter change, then refreshed while live. A failed load is tried again, live or
  // not, after a wait that grows with each failure in a row, or an answer's Retry-After when longer (retry-backoff.ts);
  // a success goes back to the interval.
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    const newFilter = listRef.current.key !== filterKey;
    const showNewest = !newFilter && newestDoneRef.current !== newestAsked;
    newestDoneRef.current = newestAsked;
    // The filters changed in the view (a search, a filter, back/forward), not the view's first load: the result is
    // announced, as a screen-reader user hears nothing of the table being replaced. Background refreshes are not.
    const announceResult = newFilter && listRef.current.key !== '';
    if (newFilter) {
      commitList({ key: filterKey, generation: listRef.current.generation + 1, items: [], nextCursor: null, loading: true, loaded: false });
      setSelected(new Set());
    }
    /** Failed loads in a row. */
    let failures = 0;
    const load = async (kind: LoadKind) => {
      retryNowRef.current = undefined;
      await whenVisible();
      if (stopped) return;
      // Paused past the limit (the note above the list says so): no refresh is asked until the operator goes back to
      // the newest rows or the filter changes. Checked here, as the list grows with "Load more" between two refreshes.
      if (kind === 'refresh' && listRef.current.items.length > LIVE_ROW_LIMIT) {
        clearPausedError();
        return;
      }
      try {
        // A refresh reads the rows loaded with "Load more" too, or their status changes would never show.
        const get = (path: string) => api.get<EventPage>(path, { signal: controller.signal });
        const filter = apiFilter(filters);
        const page =
          kind === 'first'
            ? await get(`admin/events${query({ ...filter, limit: PAGE_SIZE })}`)
            : await readNewest(get, filter, kind === 'newest' ? NEWEST_ROWS : refreshLimit(listRef.current.items.length));
        if (stopped) return;
        failures = 0;
        const current = listRef.current;
        if (kind !== 'refresh') {
          // A new list: a "Load more" under way belongs to the old one (new generation) and is dropped.
          commitList({ key: filterKey, generation: current.generation + 1, items: page.items, nextCursor: page.nextCursor, loading: false, loaded: true, checkedAt: Date.now() });
          // Its rows are the list, none of them a new arrival (nor one the list before it highlighted).
          setFresh(new Set());
          if (announceResult || kind === 'newest') announce(resultText(page, hasAnyFilter(filters)));
        } else {
          const known = new Set(current.items.map((item) => item.id));
          const added = page.items.filter((item) => !known.has(item.id) && (!current.items[0] || item.receivedAt >= current.items[0].receivedAt));
          const { items, nextCursor, gap } = slideOrMerge(current, page);
          commitList({ ...current, generation: gap ? current.generation + 1 : current.generation, items, nextCursor, loading: false, error: undefined, retry: undefined, checkedAt: Date.now() });
          if (added.length > 0) {
            setFresh(new Set(added.map((item) => item.id)));
            announce(`${added.length} new event${added.length === 1 ? '' : 's'}`);
          }
        }
      } catch (error) {
        if (stopped || (error as Error).name === 'AbortError') return;
        // A refresh under way when "Load more" took the list past the limit: paused, it would not be tried again.
        if (kind === 'refresh' && listRef.current.items.length > LIVE_ROW_LIMIT) {
          clearPausedError();
          return;
        }
        failures += 1;
        const now = Date.now();
        // A failed first page is tried again as a first page: when it comes, its rows are the list, not new events. A
        // filter the admin API refuses (a 4xx) stays refused: shown until the filter changes, not asked again.
        const retry = retryAfterFailure(failures, error, now);
        commitList((previous) => ({ ...previous, loading: false, error: (error as Error).message, checkedAt: now, retry }));
        if (retry) {
          timer = setTimeout(() => void load(kind), retry.delayMs);
          // "Retry now": the same load (a first page again as a first page), without the wait.
          retryNowRef.current = () => {
            clearTimeout(timer);
            void load(kind);
          };
        }
        return;
      }
      if (live) timer = setTimeout(() => void load('refresh'), LIVE_INTERVAL_MS);
    };
    void load(newFilter || !listRef.current.loaded ? 'first' : showNewest ? 'newest' : 'refresh');
    return () => {
      stopped = true;
      retryNowRef.current = undefined;
      clearTimeout(timer);
      controller.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [filterKey, live, api, newestAsked]);

  const counts = usePolled(
    (signal) => api.get<StatusCounts>(`admin/events/counts${query({ ...apiFilter(filters), status: undefined })}`, { signal }),
    [filterKey, api],
    live ? LIVE_INTERVAL_MS : null,
  );
  const facets = usePolled((signal) => api.get<Facets>('admin/events/facets', { signal }), [api], 60_000);

  const loadMore = async () => {
    // The list the answer belongs to. The answer arrives later; if the list is another one by then (the filter
    // changed, or a refresh restarted it after a gap), these rows and their cursor are not its own: appended, they
    // would show another filter's events and hide the rest of this one.
    const { key, generation, nextCursor: cursor } = listRef.current;
    if (!cursor || key !== filterKey) return;
    setLoadingMore(key);
    try {
      const page = await api.get<EventPage>(`admin/events${query({ ...apiFilter(filters), limit: PAGE_SIZE, cursor })}`);
      const current = listRef.current;
      if (current.key !== key || current.generation !== generation) return;
      const known = new Set(current.items.map((item) => item.id));
      const items = [...current.items, ...page.items.filter((item) => !known.has(item.id))];
      // Taken past the limit, the list pauses: a failed refresh's error goes with the retry that will not come (a
      // failed "Show the newest", from a list already past it, keeps its own: that retry does come).
      const pauses = current.items.length <= LIVE_ROW_LIMIT && items.length > LIVE_ROW_LIMIT;
      commitList({ ...current, items, nextCursor: page.nextCursor, ...(pauses ? { error: undefined, retry: undefined } : {}) });
      announce(`${page.items.length} more events loaded`);
    } catch (error) {
      if (listRef.current.key === key) setResult({ kind: 'error', text: (error as Error).message });
    } finally {
      setLoadingMore((previous) => (previous === key ? null : previous));
    }
  };

  // The same function every render: the rows compare it (EventRow), a new one would render them all again.
  const toggle = useCallback(
    (id: string, on: boolean) =>
      setSelected((previous) => {
        const next = new Set(previous);
        if (on) next.add(id);
        else next.delete(id);
        return next;
      }),
    [],
  );
  /** Live updates are on, but the list is past the limit: its refresh waits (see LIVE_ROW_LIMIT). */
  const livePaused = live && list.items.length > LIVE_ROW_LIMIT;
  // Every row's "… ago" moves on from the last refresh's time (see agoClock).
  const clockNow = list.checkedAt ?? 0;
  const allSelected = list.items.length > 0 && list.items.every((item) => selected.has(item.id));
  const selectedItems = list.items.filter((item) => selected.has(item.id));
  const providers = facets.data?.providers ?? [];
  const eventTypes = facets.data?.eventTypes ?? [];
  const hasFilters = hasAnyFilter(filters);

  return (
    <section aria-labelledby="events-title">
      <div class="view-head">
        <h1 id="events-title">Events</h1>
        {/* The status before the box: the row sits at the right edge, so a status that appears (the first page, right
            after sign-in) or changes width grows to the left and the box stays put. After the box, it pushed the box
            137 px left as the list arrived, and a click pressed on the box then was released on the status instead. */}
        <div class="live">
          <span class="muted small live__status" aria-hidden="true">
            {livePaused || !live ? 'paused' : list.checkedAt ? `checked ${formatTimeSeconds(list.checkedAt)}` : ''}
          </span>
          <label class="checkbox">
            <input type="checkbox" checked={live} onChange={(event) => setLive((event.target as HTMLInputElement).checked)} />
            Live updates
          </label>
        </div>
      </div>

      <form
        class="filters"
        role="search"
        aria-label="Filter events"
        onSubmit={(event) => {
          event.preventDefault();
          const form = event.currentTarget as HTMLFormElement;
          const data = new FormData(form);
          const q = String(data.get('q') ?? '');
          const eventType = String(data.get('eventType') ?? '');
          searchDraft.sent(q);
          typeDraft.sent(eventType);
          update({ q: q.trim() || undefined, eventType: eventType.trim() || undefined });
        }}
      >
        <div class="field field--wide">
          <label for="filter-q">Search</label>
          <input
            id="filter-q"
            name="q"
            type="search"
            value={searchDraft.text}
            onInput={(event) => searchDraft.edit((event.target as HTMLInputElement).value)}
            placeholder="Event id or provider's id, e.g. evt_1NG8…"
            aria-describedby="filter-q-hint"
          />
          <span id="filter-q-hint" class="sr-only">
            Exact event id (uuid) or the provider's own id for the event. Press Enter to search.
          </span>
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" value={filters.status ?? ''} onChange={(event) => update({ status: (event.target as HTMLSelectElement).value || undefined })}>
            <option value="">All statuses</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {STATUS_LABELS[status]}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-provider">Provider</label>
          <select id="filter-provider" value={filters.provider ?? ''} onChange={(event) => update({ provider: (event.target as HTMLSelectElement).value || undefined })}>
            <option value="">All providers</option>
            {[...new Set([...providers, ...(filters.provider ? [filters.provider] : [])])].map((provider) => (
              <option key={provider} value={provider}>
                {provider}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-type">Event type</label>
          <input
            id="filter-type"
            name="eventType"
            list="event-types"
            value={typeDraft.text}
            onInput={(event) => typeDraft.edit((event.target as HTMLInputElement).value)}
            placeholder="Any type"
            onChange={(event) => {
              const eventType = (event.target as HTMLInputElement).value;
              typeDraft.sent(eventType);
              update({ eventType: eventType.trim() || undefined });
            }}
          />
          <datalist id="event-types">
            {eventTypes.map((type) => (
              <option key={type} value={type} />
            ))}
          </datalist>
        </div>
        <div class="field">
          <label for="filter-range">Received</label>
          <select id="filter-range" value={filters.range ?? ''} onChange={(event) => update({ range: (event.target as HTMLSelectElement).value || undefined })}>
            {RANGES.map((range) => (
              <option key={range.value} value={range.value}>
                {range.label}
              </option>
            ))}
          </select>
        </div>
        {filters.range === 'custom' && (
          <>
            <div class="field">
              <label for="filter-from">From</label>
              <input id="filter-from" type="datetime-local" step={1} value={toLocalInput(filters.from)} onChange={(event) => update({ from: toInstant((event.target as HTMLInputElement).value) })} />
            </div>
            <div class="field">
              <label for="filter-to">To</label>
              <input id="filter-to" type="datetime-local" step={1} value={toLocalInput(filters.to)} onChange={(event) => update({ to: toInstant((event.target as HTMLInputElement).value) })} />
            </div>
          </>
        )}
        <div class="filters__actions">
          <button type="submit" class="button">
            Search
          </button>
          {hasFilters && (
            <button
              type="button"
              class="button button--quiet"
              onClick={() => {
                // Both fields emptied now, in one rendering: following the URL, a field whose filter was not set (its
                // text typed, not sent) kept its text while the other emptied.
                searchDraft.reset('');
                typeDraft.reset('');
                setFilters({});
              }}
            >
              Clear filters
            </button>
          )}
        </div>
      </form>

      <div class="counts" role="group" aria-label="Event counts (choose one to filter)">
        {STATUSES.map((status) => {
          const n = counts.data?.counts[status];
          const more = counts.data?.more.includes(status);
          const pressed = filters.status === status;
          return (
            <button
              key={status}
              type="button"
              class={`count count--${status.toLowerCase().replace('_', '-')}`}
              aria-pressed={pressed}
              onClick={() => update({ status: pressed ? undefined : status })}
            >
              <span class="count__label">{STATUS_LABELS[status]}</span>
              <span class="count__value">{n === undefined ? '…' : `${formatNumber(n)}${more ? '+' : ''}`}</span>
            </button>
          );
        })}
      </div>

      {counts.error && !list.error && (
        // The counts' own request failed while the list's did not (a failed list says so for both, and its "Retry now"
        // asks the counts again): unsaid, the counts stayed at their last numbers, or "…", under a list that moved on.
        <div class="counts-error">
          <p class="error" role="alert">
            Could not count the events{counts.data ? ' (the counts shown are from before)' : ''}: <IsolatedText text={counts.error.message} />
          </p>
          <RetryNote retry={counts.retry} onRetryNow={counts.retryNow} />
        </div>
      )}

      {facets.error && !list.error && (
        // The providers and event types the filters offer come from a request of their own: failed, the filters were
        // just empty ("All providers" alone), as though there were none, and nothing said why. A failed list says so
        // for both, and its "Retry now" asks the facets again.
        <div class="facets-error">
          <p class="error" role="alert">
            Could not load the providers and event types for the filters{facets.data ? ' (those offered are from before)' : ''}:{' '}
            <IsolatedText text={facets.error.message} />
          </p>
          <RetryNote retry={facets.retry} onRetryNow={facets.retryNow} />
        </div>
      )}

      <div class="toolbar">
        <button type="button" class="button" disabled={selectedItems.length === 0} onClick={() => setDialog('selected')}>
          Replay selected ({selectedItems.length})
        </button>
        <button type="button" class="button" onClick={() => setDialog('dead')}>
          Replay all dead letters…
        </button>
        {result?.kind === 'ok' && (
          // Focusable from script: after "Replay selected" the focus comes here (its opener is disabled then).
          <p ref={noticeRef} class="notice" tabIndex={-1}>
            {result.text}
          </p>
        )}
        {result?.kind === 'error' && (
          <p class="error" role="alert">
            {result.text}
          </p>
        )}
      </div>

      {list.error && (
        <p class="error" role="alert">
          Could not load events: <IsolatedText text={list.error} />
        </p>
      )}
      {list.error && (
        <RetryNote
          retry={list.retry}
          // The counts above the list failed with it and wait for their own retry: asked again too.
          onRetryNow={() => {
            retryNowRef.current?.();
            counts.retryNow();
            facets.retryNow();
          }}
        />
      )}

      {livePaused && <LivePausedNote limit={LIVE_ROW_LIMIT} newest={NEWEST_ROWS} onShowNewest={() => setNewestAsked((n) => n + 1)} focusAfter={() => tableRef.current} />}

      <div class="table-wrap">
        {/* Focusable from script: where the focus goes when "Show the newest" takes its button away (LivePausedNote). */}
        <table ref={tableRef} class="table events-table" tabIndex={-1}>
          <caption class="sr-only">Events, newest first{list.loading ? ' (loading)' : ''}</caption>
          <thead>
            <tr>
              <th scope="col" class="col-check">
                <input
                  type="checkbox"
                  aria-label="Select all shown events"
                  checked={allSelected}
                  disabled={list.items.length === 0}
                  onChange={(event) => setSelected((event.target as HTMLInputElement).checked ? new Set(list.items.map((item) => item.id)) : new Set())}
                />
              </th>
              <th scope="col">Received</th>
              <th scope="col">Status</th>
              <th scope="col">Provider</th>
              <th scope="col">Event type</th>
              <th scope="col">Provider's id</th>
              <th scope="col" class="num">
                Attempts
              </th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((item) => (
              <EventRow key={item.id} item={item} isNew={fresh.has(item.id)} selected={selected.has(item.id)} onToggle={toggle} clock={agoClock(item.receivedAt, clockNow)} />
            ))}
          </tbody>
        </table>
        {!list.loading && list.items.length === 0 && !list.error && (
          <p class="empty">{emptyText(hasFilters)}</p>
        )}
        {list.loading && list.items.length === 0 && <p class="empty">Loading events…</p>}
      </div>
      <div class="pager">
        <span class="muted">
          Showing {formatNumber(list.items.length)} event{list.items.length === 1 ? '' : 's'}
        </span>
        {list.nextCursor && (
          <button type="button" class="button" onClick={() => void loadMore()} disabled={loadingMore === list.key}>
            {loadingMore === list.key ? 'Loading…' : 'Load more'}
          </button>
        )}
      </div>

      {dialog === 'selected' && (
        <ReplaySelectedDialog
          items={selectedItems}
          rounds={unsentRounds}
          // Done, the selection is cleared and "Replay selected" disabled: the focus goes to the outcome instead.
          focusAfterConfirm={() => noticeRef.current}
          onClose={() => setDialog(null)}
          onDone={(text, kind, sent, unsent) => {
            setDialog(null);
            setUnsentRounds(unsent);
            setResult({ kind, text });
            announce(text);
            if (kind === 'ok') setSelected(new Set());
            // Stopped partway: what was sent leaves the selection, what was not stays selected to be sent again.
            else if (sent.length > 0)
              setSelected((previous) => {
                const next = new Set(previous);
                for (const id of sent) next.delete(id);
                return next;
              });
            setLive(true);
          }}
        />
      )}
      {dialog === 'dead' && (
        <ReplayDeadLettersDialog
          providers={providers}
          providersFrom={facets.data ? 'before' : 'none'}
          providersError={facets.error}
          providersRetry={facets.retry}
          onRetryProviders={facets.retryNow}
          initialProvider={filters.provider}
          onClose={() => setDialog(null)}
          onDone={(text, kind) => {
            setDialog(null);
            setResult({ kind, text });
            announce(text);
            // As after "Replay selected": the list shows the replayed dead letters as they are now (Pending, then on),
            // not as the dead letters they were while live updates were off.
            setLive(true);
          }}
        />
      )}
    </section>
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${formatNumber(n)} ${n === 1 ? one : many}`;

/**
 * Replays the selected events that were replayable when it opened. The API takes {@link REPLAY_BATCH} ids a request,
 * so a larger selection goes in batches, one after the other, with the progress shown; the answers are summed. If a
 * batch fails after others went through, it stops and says how many were replayed and how many were not sent.
 */
function ReplaySelectedDialog({
  items: selected,
  rounds,
  focusAfterConfirm,
  onClose,
  onDone,
}: {
  items: EventItem[];
  /**
   * The rounds an earlier replay that stopped partway sent, or was to send, for these events: used instead of the
   * list's. A batch whose answer was lost may have been replayed (and completed: the list then shows the new round,
   * replayable); sent again with that round, it was replayed once more, every destination taking it twice.
   */
  rounds: ReadonlyMap<string, number>;
  focusAfterConfirm(): HTMLElement | null;
  onClose(): void;
  /** `sent`: the ids the service took (all of them when `kind` is ok); `unsent`: the rounds of the others (see `rounds`). */
  onDone(text: string, kind: 'ok' | 'error', sent: string[], unsent: ReadonlyMap<string, number>): void;
}) {
  const { api } = useConsole();
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  // The events as they were when the dialog opened: the live list refreshes under it, and an event in progress then
  // may have completed since; what the operator read ("will be skipped") is what is sent, and the text cannot
  // change under their click.
  const [items] = useState(selected);
  const replayable = items.filter((item) => item.status === 'DEAD_LETTER' || item.status === 'COMPLETED');
  const completed = replayable.filter((item) => item.status === 'COMPLETED').length;
  const inProgress = items.length - replayable.length;
  const batches = Math.ceil(replayable.length / REPLAY_BATCH);
  return (
    <ConfirmDialog
      title={`Replay ${items.length} selected event${items.length === 1 ? '' : 's'}?`}
      confirmLabel={`Replay ${replayable.length}`}
      busy={busy}
      disabled={replayable.length === 0}
      focusAfterConfirm={focusAfterConfirm}
      onClose={onClose}
      onConfirm={async () => {
        setBusy(true);
        // Only what the dialog offered: an event in progress when it opened may have finished since, and would be
        // replayed (a completed one to every destination again) though the operator was told it would be skipped.
        const ids = replayable.map((item) => item.id);
        const roundOf = new Map(replayable.map((item) => [item.id, rounds.get(item.id) ?? item.replays]));
        const sent: string[] = [];
        let replayed = 0;
        // Skipped by the service: in progress by now, or replayed since the dialog opened (by another operator, or by
        // this batch's earlier sending whose answer was lost).
        let skipped = 0;
        const skippedText = () =>
          (inProgress ? `; ${formatNumber(inProgress)} skipped (still in progress)` : '') +
          (skipped ? `; ${formatNumber(skipped)} skipped (in progress or replayed since they were selected)` : '');
        for (let start = 0; start < ids.length; start += REPLAY_BATCH) {
          const batch = ids.slice(start, start + REPLAY_BATCH);
          setProgress({ sent: start, total: ids.length });
          try {
            // Each event only while it is in the round the dialog saw it in: a batch sent again after its answer was
            // lost (the service took it), or replayed by another operator meanwhile, is skipped, not delivered again.
            const replays = Object.fromEntries(batch.map((id) => [id, roundOf.get(id)!]));
            const answer = await api.post<{ replayed: number; skipped: string[] }>('admin/events/replay', { ids: batch, replays });
            replayed += answer.replayed;
            skipped += answer.skipped.length;
            sent.push(...batch);
          } catch (error) {
            const reason = error instanceof ApiError ? error.message : String(error);
            // The failed batch's answer may have been lost after the service replayed it: its rounds are kept.
            const taken = new Set(sent);
            const unsent = new Map(ids.filter((id) => !taken.has(id)).map((id) => [id, roundOf.get(id)!]));
            if (sent.length === 0) onDone(`Replay failed: ${reason}`, 'error', sent, unsent);
            else
              onDone(
                `Replay stopped partway: ${plural(replayed, 'event was', 'events were')} replayed${skippedText()}, but the other ` +
                  `${plural(ids.length - sent.length, 'event was', 'events were')} not sent (${reason}). They are still selected: replay them again.`,
                'error',
                sent,
                unsent,
              );
            return;
          }
        }
        onDone(`Replay started for ${plural(replayed, 'event')}${skippedText()}.`, 'ok', sent, new Map());
      }}
    >
      <p>
        Each goes back to <strong>Pending</strong> and is delivered again: a dead letter to the destinations that have not taken it yet
        {completed > 0 ? `; the ${completed} completed one${completed === 1 ? '' : 's'} to every destination again` : ''}.
      </p>
      {inProgress > 0 && (
        <p>
          {inProgress} selected event{inProgress === 1 ? ' is' : 's are'} still in progress and will be skipped.
        </p>
      )}
      {batches > 1 && <p>They are sent in {batches} batches of up to {REPLAY_BATCH}, one after the other.</p>}
      {progress && batches > 1 && (
        <p class="progress" aria-live="polite">
          <progress max={progress.total} value={progress.sent} aria-label="Events sent" /> Sending… {formatNumber(progress.sent)} of {formatNumber(progress.total)} sent
        </p>
      )}
    </ConfirmDialog>
  );
}

function ReplayDeadLettersDialog({
  providers,
  providersFrom,
  providersError,
  providersRetry,
  onRetryProviders,
  initialProvider,
  onClose,
  onDone,
}: {
  providers: string[];
  /** Whether `providers` holds a list loaded before `providersError` ('before') or nothing ('none'). */
  providersFrom: 'before' | 'none';
  /**
   * The view's facets failed (`providers` then is an older list, or none), with their next try and "Retry now": shown
   * in the dialog too, where the view's own note is out of reach behind the modal.
   */
  providersError?: Error;
  providersRetry?: Retry;
  onRetryProviders(): void;
  initialProvider?: string;
  onClose(): void;
  onDone(text: string, kind: 'ok' | 'error'): void;
}) {
  const { api } = useConsole();
  const [provider, setProvider] = useState(initialProvider ?? '');
  const [busy, setBusy] = useState(false);
  const countPath = `admin/events/counts${query({ provider })}`;
  // Counted again while the dialog is open, as the live list is: counted once, a dialog left open went on offering a
  // number that was no longer true (dead letters arrive, or are replayed by another operator).
  const count = usePolled((signal) => api.get<StatusCounts>(countPath, { signal }), [provider, api], LIVE_INTERVAL_MS);
  // The count read when the replay was confirmed, found different from the one shown: shown instead of the polled
  // count it was newer than (`over`), until the next poll brings another.
  const [confirmRead, setConfirmRead] = useState<{ provider: string; over: StatusCounts; data: StatusCounts } | null>(null);
  /** What a confirm found changed, for the provider it was for: said until the next confirm. */
  const [changed, setChanged] = useState<{ provider: string; from: string; to: string } | null>(null);
  const changedRef = useRef<HTMLParagraphElement>(null);
  const data = confirmRead && confirmRead.provider === provider && confirmRead.over === count.data ? confirmRead.data : count.data;
  const n = data?.counts.DEAD_LETTER;
  const more = data?.more.includes('DEAD_LETTER');
  const countText = (counts: StatusCounts) => `${formatNumber(counts.counts.DEAD_LETTER)}${counts.more.includes('DEAD_LETTER') ? '+' : ''}`;
  // The confirm button was disabled while the count was read again, which took the focus: it goes to what changed.
  useEffect(() => {
    if (changed) changedRef.current?.focus();
  }, [changed]);
  return (
    <ConfirmDialog
      title="Replay dead letters?"
      confirmLabel={data === undefined ? 'Replay' : `Replay ${countText(data)}`}
      busy={busy}
      // Not before the count is in: while it was loading, or for good once its request failed (no error shown), the
      // operator could replay an unknown number of dead letters blind.
      disabled={n === undefined || n === 0}
      onClose={onClose}
      onConfirm={async () => {
        if (!data) return;
        setBusy(true);
        setChanged(null);
        // Counted once more: the service replays the dead letters the filter finds when the request comes, not the
        // number the operator confirmed, which may be up to a poll old. A number changed since is shown and asked
        // again rather than sent (the count and the replay are two requests: one arriving between them is replayed too).
        let fresh: StatusCounts;
        try {
          fresh = await api.get<StatusCounts>(countPath);
        } catch (error) {
          onDone(`Replay not sent: could not count the dead letters again: ${error instanceof ApiError ? error.message : String(error)}`, 'error');
          return;
        }
        if (countText(fresh) !== countText(data)) {
          setConfirmRead({ provider, over: count.data!, data: fresh });
          setChanged({ provider, from: countText(data), to: countText(fresh) });
          setBusy(false);
          return;
        }
        try {
          const answer = await api.post<{ replayed: number }>('admin/events/replay', { status: 'DEAD_LETTER', ...(provider ? { provider } : {}) });
          onDone(`Replay started for ${formatNumber(answer.replayed)} dead letter${answer.replayed === 1 ? '' : 's'}${provider ? ` of ${provider}` : ''}.`, 'ok');
        } catch (error) {
          onDone(`Replay failed: ${error instanceof ApiError ? error.message : String(error)}`, 'error');
        }
      }}
    >
      <div class="field">
        <label for="dead-provider">Provider</label>
        {/* Fixed while a confirm counts again and sends: the replay goes for the provider it was confirmed for. */}
        <select id="dead-provider" value={provider} disabled={busy} onChange={(event) => setProvider((event.target as HTMLSelectElement).value)}>
          <option value="">All providers</option>
          {[...new Set([...providers, ...(initialProvider ? [initialProvider] : [])])].map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      {providersError && (
        // As the view says it (events-facets-failed): without it, a failed list left "All providers" alone here, as
        // though there were no providers to pick.
        <div class="facets-error">
          <p class="error" role="alert">
            Could not load the providers{providersFrom === 'before' ? ' (those offered are from before)' : ''}: <IsolatedText text={providersError.message} />
          </p>
          <RetryNote retry={providersRetry} onRetryNow={onRetryProviders} />
        </div>
      )}
      {count.error && (
        // As the views show a failed load: what failed, and when it is tried again (usePolled retries on its own).
        <p class="error" role="alert">
          {n === undefined
            ? 'Could not count the dead letters, so none can be replayed yet: '
            : 'Could not count the dead letters again (the number below is from before; a replay counts them again first): '}
          <IsolatedText text={count.error.message} />
        </p>
      )}
      {count.error && <RetryNote retry={count.retry} onRetryNow={count.retryNow} />}
      {changed && changed.provider === provider && (
        // Focusable from script: see the effect above.
        <p ref={changedRef} class="notice count-changed" tabIndex={-1}>
          Nothing replayed yet: the count changed from {changed.from} to {changed.to} since it was shown.
        </p>
      )}
      <p aria-live="polite">
        {n === undefined
          ? count.error
            ? ''
            : 'Counting dead letters…'
          : n === 0
            ? 'There are no dead letters to replay.'
            : n === 1 && !more
              ? '1 dead letter goes back to Pending and is delivered to the destinations that have not taken it yet.'
              : `${formatNumber(n)}${more ? ' or more' : ''} dead letters go back to Pending and are delivered to the destinations that have not taken them yet.`}
      </p>
    </ConfirmDialog>
  );
}
