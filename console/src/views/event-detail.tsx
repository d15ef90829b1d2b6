import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useConsole } from '../app.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { IsolatedList, IsolatedText } from '../components/isolated-text.js';
import { RetryNote } from '../components/retry-note.js';
import { StatusBadge } from '../components/status-badge.js';
import { isEventId } from '../event-id.js';
import { formatAgo, formatDateTime, formatDuration, formatNumber, formatWhen, isFinal } from '../format.js';
import { usePolled } from '../hooks.js';
import { reindentJson } from '../json-reindent.js';
import { href } from '../router.js';
import type { Delivery, EventDetail } from '../types.js';

/** Refresh intervals: quick while the event is moving, slow once it rests. */
const MOVING_MS = 1500;
const RESTING_MS = 10_000;

const isJsonType = (contentType: string) => /^application\/(?:[\w.+-]+\+)?json$/i.test(contentType);

/**
 * Longest text a payload or raw body block shows until "Show all" (characters; 256 KiB of ASCII): a megabyte of
 * formatted JSON in a <pre> took seconds to lay out and froze the page.
 */
export const SHOWN_TEXT_LIMIT = 256 * 1024;

export function EventDetailView({ id }: { id: string }) {
  const { api, announce } = useConsole();
  const [pollMs, setPollMs] = useState(MOVING_MS);
  const event = usePolled(
    async (signal) => {
      // A link naming no event is not asked about: the service's answer would be 404.
      if (!isEventId(id)) throw new ApiError(404, 'Event not found');
      const detail = await api.get<EventDetail>(`admin/events/${encodeURIComponent(id)}`, { signal });
      setPollMs(isFinal(detail.status) ? RESTING_MS : MOVING_MS);
      return detail;
    },
    [id, api],
    pollMs,
    // A poll that finds nothing new (304: the same object back) renders nothing again: with a large payload each
    // render cost a noticeable pause every 1.5 s while the event moved.
    { skipUnchanged: true },
  );
  // How many times the view rendered, on the article (data-renders): lets a test see that a 304 renders nothing.
  const renders = useRef(0);
  renders.current += 1;
  // The replay round the event was in when "Replay event" was clicked: the replay asks the service to replay it only
  // while it is still in that round, so a second operator's replay meanwhile, or this one's answer lost and the
  // dialog confirmed again after the replay completed, does not send the event once more.
  const [confirming, setConfirming] = useState<{ replays: number } | null>(null);
  // The round a replay left without a definite answer was sent for (the service unreachable, or a 5xx: it may have
  // been replayed, its answer lost). Confirmed again, the replay names that round, not the new one the refreshed view
  // shows: sent with that, it replayed the event once more, every destination taking it twice. Cleared by a success
  // or a refusal (4xx).
  const [unansweredRound, setUnansweredRound] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const noticeRef = useRef<HTMLParagraphElement>(null);

  if (!event.data) {
    const notFound = event.error instanceof ApiError && event.error.status === 404;
    return (
      <section aria-labelledby="detail-title">
        <p>
          <a href={href('/events')}>← All events</a>
        </p>
        <h1 id="detail-title">{notFound ? 'Event not found' : 'Event'}</h1>
        {event.error ? (
          <>
            <p class="error" role="alert">
              {/* The id is echoed only when it is one: other text in a link (which anyone can send an operator) is not
                  written into the console as if the console said it ("…sign in again at https://…"). */}
              {notFound ? (isEventId(id) ? `No event has the id ${id}.` : 'This link does not name an event (an event id is a uuid).') : <IsolatedText text={event.error.message} />}
            </p>
            {!notFound && <RetryNote retry={event.retry} onRetryNow={event.retryNow} />}
          </>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );
  }

  const detail = event.data;
  const replayable = isFinal(detail.status);
  const replay = async (round: number) => {
    setBusy(true);
    try {
      await api.post(`admin/events/${encodeURIComponent(detail.id)}/replay`, { replays: round });
      setUnansweredRound(null);
      const text = 'Replay started: the event is back to Pending and will be delivered again.';
      setMessage({ kind: 'ok', text });
      announce(text);
      setPollMs(MOVING_MS);
      event.refresh();
    } catch (error) {
      setMessage({ kind: 'error', text: `Replay failed: ${(error as Error).message}` });
      const status = error instanceof ApiError ? error.status : 0;
      setUnansweredRound(status === 0 || status >= 500 ? round : null);
      // A 409 says the event moved on (replayed since, or in progress): show where it is now.
      event.refresh();
    } finally {
      setBusy(false);
      setConfirming(null);
    }
  };

  return (
    <article aria-labelledby="detail-title" class="detail" data-renders={renders.current}>
      <p>
        <a href={href('/events')}>← All events</a>
      </p>
      <div class="view-head">
        <div>
          {/* The event type is the sender's text: isolated, so that a right-to-left override in it cannot turn round the
              console's own "from <provider>" after it. */}
          <h1 id="detail-title">
            <IsolatedText text={detail.eventType} /> <span class="muted">from {detail.provider}</span>
          </h1>
          <p class="detail__meta">
            {/* Only the status is live: every change inside a live region is spoken, and "updated N s ago" ticks. */}
            <span class="detail__status" aria-live="polite">
              <StatusBadge status={detail.status} />
            </span>
            <span class="muted">
              {' '}
              updated <Ago iso={detail.updatedAt} />
            </span>
          </p>
        </div>
        <div class="detail__actions">
          <button type="button" class="button button--primary" disabled={!replayable || busy} aria-describedby={replayable ? undefined : 'replay-why'} onClick={() => setConfirming({ replays: unansweredRound ?? detail.replays })}>
            Replay event
          </button>
          {!replayable && (
            <p id="replay-why" class="hint">
              In progress: it can be replayed once it is completed or dead-lettered.
            </p>
          )}
        </div>
      </div>
      {message?.kind === 'ok' && (
        // Focusable from script: after a replay the focus comes here, as "Replay event" is disabled while it runs.
        <p ref={noticeRef} class="notice" tabIndex={-1}>
          {message.text}
        </p>
      )}
      {message?.kind === 'error' && (
        <p class="error" role="alert">
          {message.text}
        </p>
      )}
      {event.error && (
        <p class="error" role="alert">
          Refreshing failed: <IsolatedText text={event.error.message} />
        </p>
      )}
      {event.error && <RetryNote retry={event.retry} onRetryNow={event.retryNow} />}

      <section aria-labelledby="facts-title" class="panel">
        <h2 id="facts-title" class="sr-only">
          Facts
        </h2>
        <dl class="facts">
          <dt>Event id</dt>
          <dd class="mono">{detail.id}</dd>
          <dt>Provider's id</dt>
          <dd class="mono">
            <IsolatedText text={detail.externalId} />
          </dd>
          <dt>Received</dt>
          <dd>
            <time dateTime={detail.receivedAt}>{formatDateTime(detail.receivedAt)}</time>
          </dd>
          <dt>Attempts</dt>
          <dd>
            {detail.attempts}
            {detail.replays > 0 ? ` (replayed ${detail.replays}×)` : ''}
          </dd>
          <dt>Last error</dt>
          <dd class={detail.lastError ? 'error-text' : 'muted'}>{detail.lastError ? <IsolatedText text={detail.lastError} /> : 'none'}</dd>
          <dt>Trace</dt>
          <dd class="mono">
            {detail.traceId ? (
              detail.traceUrl ? (
                <a href={detail.traceUrl} target="_blank" rel="noopener noreferrer">
                  {detail.traceId}
                  <span class="sr-only"> (opens the tracing UI in a new tab)</span>
                </a>
              ) : (
                detail.traceId
              )
            ) : (
              <span class="muted">none</span>
            )}
          </dd>
          <dt>Correlation id</dt>
          <dd class="mono">{detail.correlationId ?? <span class="muted">none</span>}</dd>
        </dl>
      </section>

      <div class="detail__grid">
        <section aria-labelledby="deliveries-title" class="panel">
          <h2 id="deliveries-title">Deliveries</h2>
          <Deliveries detail={detail} />
        </section>
        <section aria-labelledby="routing-title" class="panel">
          <h2 id="routing-title">Routing</h2>
          {detail.routing.routes.length === 0 ? (
            <p class="muted">No route matches this provider and event type: the event completes with nothing delivered.</p>
          ) : (
            <ul class="routes">
              {detail.routing.routes.map((route) => (
                <li key={route.index}>
                  <span class="muted">Route {route.index + 1}:</span> <span class="mono">{route.provider}</span> ·{' '}
                  <span class="mono">{route.events ? <IsolatedList items={route.events} /> : 'every event type'}</span> →{' '}
                  <strong>
                    <IsolatedList items={route.to} />
                  </strong>
                  {route.hasFilter && <span class="tag">filter on the body</span>}
                  {route.hasTransform && <span class="tag">transformed</span>}
                </li>
              ))}
            </ul>
          )}
          {detail.routing.destinations.length > 0 && (
            <ul class="plain">
              {detail.routing.destinations.map((destination) => (
                <li key={destination.name}>
                  <strong>
                    <IsolatedText text={destination.name} />
                  </strong>{' '}
                  <span class="tag">{destination.type}</span>{' '}
                  <span class="mono muted">
                    <IsolatedText text={destination.target ?? ''} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>

      <Payload detail={detail} />

      <section aria-labelledby="headers-title" class="panel">
        <h2 id="headers-title">Headers kept</h2>
        {Object.keys(detail.headers).length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <table class="table table--compact">
            <caption class="sr-only">Request headers kept with the event</caption>
            <thead>
              <tr>
                <th scope="col">Header</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(detail.headers).map(([name, value]) => (
                <tr key={name}>
                  <th scope="row" class="mono">
                    <IsolatedText text={name} />
                  </th>
                  <td class="mono">
                    <IsolatedText text={value} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {confirming && (
        <ConfirmDialog
          title="Replay this event?"
          confirmLabel="Replay"
          busy={busy}
          // A replayed event is in progress, which disables "Replay event" once the view refreshes: the focus goes
          // to the outcome instead, or it would fall to <body> then.
          focusAfterConfirm={() => noticeRef.current}
          onClose={() => setConfirming(null)}
          onConfirm={() => replay(confirming.replays)}
        >
          <p>
            It goes back to <strong>Pending</strong> and is processed again.{' '}
            {detail.status === 'COMPLETED'
              ? 'It completed, so every destination receives it again.'
              : 'It is a dead letter, so only the destinations that have not taken it yet receive it.'}
          </p>
        </ConfirmDialog>
      )}
    </article>
  );
}

/** "12 s ago", kept current by a timer of its own: the view around it renders only when the event changes. */
function Ago({ iso }: { iso: string }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((tick) => tick + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  return <>{formatAgo(iso)}</>;
}

/**
 * The payload formatted and the raw body. The JSON is formatted once per answer (the same answer object on a 304:
 * nothing is formatted again), and each block shows at most {@link SHOWN_TEXT_LIMIT} characters until "Show all".
 *
 * A JSON body is formatted from its text as received, not from the parsed payload: a parsed number beyond 2^53 (an
 * account number, a snowflake id) comes out rounded, 10.50 as 10.5, and keys reordered. The parsed payload is shown
 * when there is no such text (a body that is not text, or not JSON, e.g. a form).
 */
function Payload({ detail }: { detail: EventDetail }) {
  const formatted = useMemo(
    () =>
      (isJsonType(detail.contentType) && detail.body.encoding === 'utf8' ? reindentJson(detail.body.data) : undefined) ??
      JSON.stringify(detail.payload, null, 2) ??
      'undefined',
    [detail.payload, detail.body, detail.contentType],
  );
  const raw = `Raw body (${detail.body.encoding === 'utf8' ? 'text' : 'base64'})`;
  return (
    <section aria-labelledby="payload-title" class="panel">
      <h2 id="payload-title">Payload</h2>
      <p class="muted small">
        {detail.contentType} · {detail.body.bytes} bytes as received
      </p>
      {isJsonType(detail.contentType) ? (
        <>
          <LongText key={`payload-${detail.id}`} text={formatted} label="Payload, formatted JSON" />
          <details class="raw">
            <summary>{raw}</summary>
            <LongText key={`raw-${detail.id}`} text={detail.body.data} label="Raw body" />
          </details>
        </>
      ) : (
        <>
          <h3>{raw}</h3>
          <LongText key={`raw-${detail.id}`} text={detail.body.data} label="Raw body" />
          <h3>Parsed payload</h3>
          <LongText key={`payload-${detail.id}`} text={formatted} label="Parsed payload, formatted JSON" />
        </>
      )}
    </section>
  );
}

/** The first {@link SHOWN_TEXT_LIMIT} characters of `text` in a code block, and a "Show all" button when it has more. */
function LongText({ text, label }: { text: string; label: string }) {
  const [all, setAll] = useState(false);
  const long = text.length > SHOWN_TEXT_LIMIT;
  const shown = useMemo(() => {
    if (all || !long) return text;
    // Not between the two halves of a surrogate pair.
    const end = /[\uD800-\uDBFF]/.test(text[SHOWN_TEXT_LIMIT - 1]!) ? SHOWN_TEXT_LIMIT - 1 : SHOWN_TEXT_LIMIT;
    return text.slice(0, end);
  }, [text, all, long]);
  return (
    <>
      <pre class="code" tabIndex={0} aria-label={label}>
        {shown}
      </pre>
      {long && !all && (
        <p class="truncated muted small">
          Showing the first {formatNumber(shown.length)} of {formatNumber(text.length)} characters.{' '}
          <button type="button" class="button button--quiet" aria-label={`Show all of the ${label.toLowerCase()}`} onClick={() => setAll(true)}>
            Show all
          </button>
        </p>
      )}
    </>
  );
}

const roundLabel = (replay: number) => (replay === 0 ? 'First delivery' : `Replay ${replay}`);

/** The attempts per destination, oldest first, grouped by replay round. */
function Deliveries({ detail }: { detail: EventDetail }) {
  const names = [...new Set([...detail.routing.destinations.map((destination) => destination.name), ...detail.deliveries.map((delivery) => delivery.destination)])];
  if (names.length === 0) return <p class="muted">Nothing to deliver.</p>;
  return (
    <div class="timeline">
      {names.map((name) => {
        const attempts = detail.deliveries.filter((delivery) => delivery.destination === name);
        // What the worker counts as delivered (the API says; it is not re-derived from the rounds here): a dead
        // letter's replay does not send the event again to a destination that took it in an earlier round.
        const delivered = detail.delivered.includes(name);
        return (
          <section key={name} class="timeline__destination" aria-label={`Deliveries to ${name}`}>
            <h3>
              <IsolatedText text={name} />{' '}
              <span class={`tag ${delivered ? 'tag--ok' : attempts.length ? 'tag--bad' : ''}`}>
                {delivered ? 'delivered' : attempts.length ? 'not delivered' : 'no attempt yet'}
              </span>
            </h3>
            {attempts.length > 0 && (
              <ol class="timeline__list">
                {attempts.map((attempt, index) => (
                  <Attempt key={index} attempt={attempt} newRound={index === 0 || attempts[index - 1]!.replay !== attempt.replay} />
                ))}
              </ol>
            )}
          </section>
        );
      })}
    </div>
  );
}

function Attempt({ attempt, newRound }: { attempt: Delivery; newRound: boolean }) {
  return (
    <li class={`attempt ${attempt.succeeded ? 'attempt--ok' : 'attempt--bad'} ${newRound ? 'attempt--round' : ''}`}>
      {newRound && <span class="attempt__round">{roundLabel(attempt.replay)}</span>}
      <span class="attempt__what">
        <strong>{attempt.succeeded ? 'Delivered' : 'Failed'}</strong>
        {attempt.statusCode !== null ? ` · HTTP ${attempt.statusCode}` : ''}
        {` · attempt ${attempt.attempt}`}
        {` · ${formatDuration(attempt.durationMs)}`}
      </span>
      <time class="attempt__when muted small" dateTime={attempt.at}>
        {formatWhen(attempt.at)}
      </time>
      {attempt.error && <span class="attempt__error error-text">
          <IsolatedText text={attempt.error} />
        </span>}
    </li>
  );
}
