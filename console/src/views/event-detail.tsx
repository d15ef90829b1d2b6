import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useConsole } from '../app.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { StatusBadge } from '../components/status-badge.js';
import { formatAgo, formatDateTime, formatDuration, formatWhen, isFinal } from '../format.js';
import { usePolled } from '../hooks.js';
import { href } from '../router.js';
import type { Delivery, EventDetail } from '../types.js';

/** Refresh intervals: quick while the event is moving, slow once it rests. */
const MOVING_MS = 1500;
const RESTING_MS = 10_000;

const isJsonType = (contentType: string) => /^application\/(?:[\w.+-]+\+)?json$/i.test(contentType);

export function EventDetailView({ id }: { id: string }) {
  const { api, announce } = useConsole();
  const [pollMs, setPollMs] = useState(MOVING_MS);
  const event = usePolled(
    async (signal) => {
      const detail = await api.get<EventDetail>(`admin/events/${encodeURIComponent(id)}`, { signal });
      setPollMs(isFinal(detail.status) ? RESTING_MS : MOVING_MS);
      return detail;
    },
    [id, api],
    pollMs,
  );
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  if (!event.data) {
    const notFound = event.error instanceof ApiError && event.error.status === 404;
    return (
      <section aria-labelledby="detail-title">
        <p>
          <a href={href('/events')}>← All events</a>
        </p>
        <h1 id="detail-title">{notFound ? 'Event not found' : 'Event'}</h1>
        {event.error ? (
          <p class="error" role="alert">
            {notFound ? `No event has the id ${id}.` : event.error.message}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );
  }

  const detail = event.data;
  const replayable = isFinal(detail.status);
  const replay = async () => {
    setBusy(true);
    try {
      await api.post(`admin/events/${encodeURIComponent(detail.id)}/replay`);
      const text = 'Replay started: the event is back to Pending and will be delivered again.';
      setMessage({ kind: 'ok', text });
      announce(text);
      setPollMs(MOVING_MS);
      event.refresh();
    } catch (error) {
      setMessage({ kind: 'error', text: `Replay failed: ${(error as Error).message}` });
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  return (
    <article aria-labelledby="detail-title" class="detail">
      <p>
        <a href={href('/events')}>← All events</a>
      </p>
      <div class="view-head">
        <div>
          <h1 id="detail-title">
            {detail.eventType} <span class="muted">from {detail.provider}</span>
          </h1>
          <p class="detail__status" aria-live="polite">
            <StatusBadge status={detail.status} />
            <span class="muted"> updated {formatAgo(detail.updatedAt)}</span>
          </p>
        </div>
        <div class="detail__actions">
          <button type="button" class="button button--primary" disabled={!replayable || busy} aria-describedby={replayable ? undefined : 'replay-why'} onClick={() => setConfirming(true)}>
            Replay event
          </button>
          {!replayable && (
            <p id="replay-why" class="hint">
              In progress: it can be replayed once it is completed or dead-lettered.
            </p>
          )}
        </div>
      </div>
      {message && (
        <p class={message.kind === 'ok' ? 'notice' : 'error'} role={message.kind === 'error' ? 'alert' : undefined}>
          {message.text}
        </p>
      )}
      {event.error && (
        <p class="error" role="alert">
          Refreshing failed: {event.error.message}
        </p>
      )}

      <section aria-labelledby="facts-title" class="panel">
        <h2 id="facts-title" class="sr-only">
          Facts
        </h2>
        <dl class="facts">
          <dt>Event id</dt>
          <dd class="mono">{detail.id}</dd>
          <dt>Provider's id</dt>
          <dd class="mono">{detail.externalId}</dd>
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
          <dd class={detail.lastError ? 'error-text' : 'muted'}>{detail.lastError ?? 'none'}</dd>
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
                  <span class="mono">{route.events ? route.events.join(', ') : 'every event type'}</span> → <strong>{route.to.join(', ')}</strong>
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
                  <strong>{destination.name}</strong> <span class="tag">{destination.type}</span> <span class="mono muted">{destination.target ?? ''}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>

      <section aria-labelledby="payload-title" class="panel">
        <h2 id="payload-title">Payload</h2>
        <p class="muted small">
          {detail.contentType} · {detail.body.bytes} bytes as received
        </p>
        {isJsonType(detail.contentType) ? (
          <>
            <pre class="code" tabIndex={0} aria-label="Payload, formatted JSON">
              {JSON.stringify(detail.payload, null, 2)}
            </pre>
            <details class="raw">
              <summary>Raw body ({detail.body.encoding === 'utf8' ? 'text' : 'base64'})</summary>
              <pre class="code" tabIndex={0} aria-label="Raw body">
                {detail.body.data}
              </pre>
            </details>
          </>
        ) : (
          <>
            <h3>Raw body ({detail.body.encoding === 'utf8' ? 'text' : 'base64'})</h3>
            <pre class="code" tabIndex={0} aria-label="Raw body">
              {detail.body.data}
            </pre>
            <h3>Parsed payload</h3>
            <pre class="code" tabIndex={0} aria-label="Parsed payload, formatted JSON">
              {JSON.stringify(detail.payload, null, 2)}
            </pre>
          </>
        )}
      </section>

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
                    {name}
                  </th>
                  <td class="mono">{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {confirming && (
        <ConfirmDialog title="Replay this event?" confirmLabel="Replay" busy={busy} onClose={() => setConfirming(false)} onConfirm={replay}>
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
              {name}{' '}
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
      {attempt.error && <span class="attempt__error error-text">{attempt.error}</span>}
    </li>
  );
}
