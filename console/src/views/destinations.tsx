import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useConsole } from '../app.js';
import { SuccessBars } from '../components/chart.js';
import { IsolatedText } from '../components/isolated-text.js';
import { RetryNote } from '../components/retry-note.js';
import { formatAgo, formatDuration, formatNumber, formatPercent, formatWhen } from '../format.js';
import { usePolled } from '../hooks.js';
import type { DestinationItem, Destinations, RemovedPause } from '../types.js';

/**
 * Each destination's state (pause, circuit breaker, rate limit), the events waiting for it, and its recent success
 * rate, with pause/resume. Waiting events are held, not lost: they used no attempt and go out once the destination
 * is resumed or its circuit closes.
 */
export function DestinationsView() {
  const { api, announce } = useConsole();
  const destinations = usePolled((signal) => api.get<Destinations>('admin/destinations', { signal }), [api], 10_000);
  // `shown`: the text with the destination's name isolated (its name is not the console's text: see IsolatedText).
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; shown: ComponentChildren } | null>(null);
  const data = destinations.data;
  const controllable = data?.items.some((item) => item.state !== null) ?? false;

  const setPaused = async (item: DestinationItem, pause: boolean) => {
    const name = <IsolatedText text={item.name} />;
    try {
      await api.post(`admin/destinations/${encodeURIComponent(item.name)}/${pause ? 'pause' : 'resume'}`);
      const outcome = pause ? ' paused: nothing is sent to it; its deliveries wait.' : ' resumed: the deliveries waiting for it go out now.';
      setMessage({ kind: 'ok', shown: <>{name}{outcome}</> });
      announce(`${item.name}${outcome}`);
      destinations.refresh();
    } catch (error) {
      const recorded = recordedNotInEffect(error);
      const reason = <IsolatedText text={(error as Error).message} />;
      setMessage({
        kind: 'error',
        shown: recorded ? (
          <>
            {pause ? 'Pause' : 'Resume'} of {name}: {reason}
          </>
        ) : (
          <>
            {pause ? 'Pausing' : 'Resuming'} {name} failed: {reason}
          </>
        ),
      });
    }
  };

  // A pause left recorded for a destination removed from ROUTES_FILE: cleared by resume, or it applies again, unseen,
  // when the destination comes back under the same name.
  const clearPause = async (leftover: RemovedPause) => {
    const name = <IsolatedText text={leftover.name} />;
    try {
      await api.post(`admin/destinations/${encodeURIComponent(leftover.name)}/resume`);
      const outcome = ': pause cleared; should it come back in ROUTES_FILE, it is not paused.';
      setMessage({ kind: 'ok', shown: <>{name}{outcome}</> });
      announce(`${leftover.name}${outcome}`);
      destinations.refresh();
    } catch (error) {
      const recorded = recordedNotInEffect(error);
      const reason = <IsolatedText text={(error as Error).message} />;
      setMessage({ kind: 'error', shown: recorded ? <>Clearing the pause of {name}: {reason}</> : <>Clearing the pause of {name} failed: {reason}</> });
    }
  };
  const leftovers = data?.removedPaused ?? [];

  return (
    <section aria-labelledby="destinations-title">
      <div class="view-head">
        <h1 id="destinations-title">Destinations</h1>
        {data && <p class="muted">Delivery attempts in the last {data.windowMinutes} minutes</p>}
      </div>
      {message && (
        <p class={message.kind === 'ok' ? 'notice' : 'error'} role={message.kind === 'error' ? 'alert' : undefined}>
          {message.shown}
        </p>
      )}
      {destinations.error && (
        <p class="error" role="alert">
          Could not load destinations: <IsolatedText text={destinations.error.message} />
        </p>
      )}
      {destinations.error && <RetryNote retry={destinations.retry} onRetryNow={destinations.retryNow} />}
      {!data ? (
        <p class="muted">Loading…</p>
      ) : data.items.length === 0 ? (
        <p class="empty">No destinations are configured (ROUTES_FILE) and none was attempted recently.</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">Destinations with their state and recent deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Waiting
                </th>
                <th scope="col" class="num">
                  Success rate
                </th>
                <th scope="col">Last {data.windowMinutes} min</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last success</th>
                <th scope="col">Last failure</th>
                {controllable && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {data.items.map((item) => (
                <tr key={item.name}>
                  <th scope="row">
                    <strong>
                      <IsolatedText text={item.name} />
                    </strong>{' '}
                    <span class="tag">{item.type}</span>
                    {!item.configured && <span class="tag tag--bad">not in ROUTES_FILE</span>}
                    <span class="mono muted small block">
                      <IsolatedText text={item.target ?? ''} />
                    </span>
                  </th>
                  <td>
                    <StateCell item={item} />
                  </td>
                  <td class="num">
                    <WaitingCell item={item} />
                  </td>
                  <td class="num">
                    <span class={`rate ${rateClass(item.recent.successRate)}`}>{item.recent.successRate === null ? '—' : formatPercent(item.recent.successRate)}</span>
                  </td>
                  <td>
                    <SuccessBars
                      buckets={item.recent.buckets}
                      label={`${item.name}, attempts per ${data.bucketMinutes} minutes over the last ${data.windowMinutes}: ${item.recent.buckets
                        .map((bucket) => `${bucket.succeeded} of ${bucket.attempts}`)
                        .join(', ')} succeeded.`}
                    />
                  </td>
                  <td class="num">
                    {formatNumber(item.recent.attempts)}
                    {item.recent.failed > 0 && <span class="muted small block">{formatNumber(item.recent.failed)} failed</span>}
                    {item.recent.avgDurationMs !== null && <span class="muted small block">avg {formatDuration(item.recent.avgDurationMs)}</span>}
                  </td>
                  <td>{item.recent.lastSuccessAt ? formatAgo(item.recent.lastSuccessAt) : <span class="muted">none</span>}</td>
                  <td>
                    {item.recent.lastFailure ? (
                      <>
                        {formatAgo(item.recent.lastFailure.at)}
                        <span class="error-text small block">
                          <IsolatedText text={item.recent.lastFailure.error ?? (item.recent.lastFailure.statusCode !== null ? `HTTP ${item.recent.lastFailure.statusCode}` : 'failed')} />
                        </span>
                      </>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                  {controllable && (
                    <td>
                      {item.state && (
                        <button type="button" class="button" onClick={() => void setPaused(item, !item.state!.paused)}>
                          {item.state.paused ? 'Resume' : 'Pause'} <IsolatedText text={item.name} />
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {leftovers.length > 0 && (
        <section class="removed-paused" aria-labelledby="removed-paused-title">
          <h2 id="removed-paused-title">Pauses of destinations no longer in ROUTES_FILE</h2>
          <p class="muted small">
            These destinations were paused, then removed from ROUTES_FILE. Their pause is still recorded: should one come back under the same name,
            it starts paused. Clear a pause you no longer want.
          </p>
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">Pauses recorded for destinations no longer in ROUTES_FILE</caption>
              <thead>
                <tr>
                  <th scope="col">Destination</th>
                  <th scope="col">Paused</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {leftovers.map((leftover) => (
                  <tr key={leftover.name}>
                    <th scope="row">
                      <strong>
                        <IsolatedText text={leftover.name} />
                      </strong>{' '}
                      <span class="tag tag--bad">not in ROUTES_FILE</span>
                    </th>
                    <td>
                      <span class="tag tag--bad">paused</span>
                      <span class="muted small block">since {formatAgo(leftover.pausedAt)}</span>
                    </td>
                    <td>
                      <button type="button" class="button" onClick={() => void clearPause(leftover)}>
                        Clear pause of <IsolatedText text={leftover.name} />
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {data && controllable && (
        <p class="muted small">
          A paused destination is sent nothing and an open circuit holds its deliveries until a probe succeeds; their events wait without
          using attempts and are never dead-lettered for it. Resume sends what waited at once.
        </p>
      )}
    </section>
  );
}

const rateClass = (rate: number | null) => (rate === null ? '' : rate >= 0.99 ? 'rate--ok' : rate >= 0.9 ? 'rate--warn' : 'rate--bad');

function StateCell({ item }: { item: DestinationItem }) {
  const state = item.state;
  if (!state) return <span class="muted">not tracked</span>;
  const settings = [
    state.rateLimit ? `≤ ${formatNumber(state.rateLimit.perSecond)}/s` : null,
    state.circuitBreaker ? `breaker: ${state.circuitBreaker.failureThreshold} failures, ${formatDuration(state.circuitBreaker.cooldownMs)} cooldown` : null,
  ].filter(Boolean);
  let badge;
  if (state.paused) {
    badge = (
      <>
        <span class="tag tag--bad">paused</span>
        {state.pausedAt && <span class="muted small block">since {formatAgo(state.pausedAt)}</span>}
      </>
    );
  } else if (state.circuit === 'open' || state.circuit === 'half-open') {
    badge = (
      <>
        <span class={`tag ${state.circuit === 'open' ? 'tag--bad' : 'tag--warn'}`}>{state.circuit === 'open' ? 'circuit open' : 'half-open: probing'}</span>
        {state.circuitOpenedAt && <span class="muted small block">opened {formatAgo(state.circuitOpenedAt)}</span>}
        {state.nextProbeAt && <span class="muted small block">next probe {formatWhen(state.nextProbeAt)}</span>}
      </>
    );
  } else if (state.unavailable) {
    badge = <span class="tag tag--warn">state unavailable</span>;
  } else {
    badge = (
      <>
        <span class="tag tag--ok">healthy</span>
        {state.consecutiveFailures > 0 && <span class="muted small block">{formatNumber(state.consecutiveFailures)} failures in a row</span>}
      </>
    );
  }
  return (
    <>
      {badge}
      {settings.length > 0 && <span class="muted small block">{settings.join(' · ')}</span>}
    </>
  );
}

function WaitingCell({ item }: { item: DestinationItem }) {
  const waiting = item.state?.waiting;
  if (!waiting) return <span class="muted">—</span>;
  if (waiting.events === 0) return <span class="muted">0</span>;
  return (
    <>
      <strong>{formatNumber(waiting.events)}</strong> {waiting.events === 1 ? 'event' : 'events'}
      {waiting.oldestSince && <span class="muted small block">oldest {formatAgo(waiting.oldestSince)}</span>}
    </>
  );
}

/**
 * A pause or resume recorded (PostgreSQL) but not yet in effect (Redis did not answer): a 503 without `Retry-After`,
 * not a failure, and not to be sent again. A 503 with `Retry-After` is a dependency the service could not reach
 * (PostgreSQL: nothing was recorded): a failure, to be sent again. Read as "recorded", an operator waited for a pause
 * that never came while deliveries went on.
 */
function recordedNotInEffect(error: unknown): boolean {
  return error instanceof ApiError && error.status === 503 && error.retryAfterMs === undefined;
}
