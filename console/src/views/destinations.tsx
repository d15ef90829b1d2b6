import { useState } from 'preact/hooks';
import { useConsole } from '../app.js';
import { SuccessBars } from '../components/chart.js';
import { formatAgo, formatDuration, formatNumber, formatPercent } from '../format.js';
import { usePolled } from '../hooks.js';
import type { DestinationItem, Destinations } from '../types.js';

/**
 * Each destination's state and recent success rate. The state column and the pause/resume actions light up when
 * the service reports a destination's state (circuit breaker and pause, from destination protection); until then
 * the service reports none and the column says so.
 */
export function DestinationsView() {
  const { api, announce } = useConsole();
  const destinations = usePolled((signal) => api.get<Destinations>('admin/destinations', { signal }), [api], 10_000);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const data = destinations.data;
  const controllable = data?.items.some((item) => item.state?.paused !== undefined) ?? false;

  const setPaused = async (item: DestinationItem, pause: boolean) => {
    try {
      await api.post(`admin/destinations/${encodeURIComponent(item.name)}/${pause ? 'pause' : 'resume'}`);
      const text = `${item.name} ${pause ? 'paused' : 'resumed'}.`;
      setMessage({ kind: 'ok', text });
      announce(text);
      destinations.refresh();
    } catch (error) {
      setMessage({ kind: 'error', text: `${pause ? 'Pausing' : 'Resuming'} ${item.name} failed: ${(error as Error).message}` });
    }
  };

  return (
    <section aria-labelledby="destinations-title">
      <div class="view-head">
        <h1 id="destinations-title">Destinations</h1>
        {data && <p class="muted">Delivery attempts in the last {data.windowMinutes} minutes</p>}
      </div>
      {message && (
        <p class={message.kind === 'ok' ? 'notice' : 'error'} role={message.kind === 'error' ? 'alert' : undefined}>
          {message.text}
        </p>
      )}
      {destinations.error && (
        <p class="error" role="alert">
          Could not load destinations: {destinations.error.message}
        </p>
      )}
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
                    <strong>{item.name}</strong> <span class="tag">{item.type}</span>
                    {!item.configured && <span class="tag tag--bad">not in ROUTES_FILE</span>}
                    <span class="mono muted small block">{item.target ?? ''}</span>
                  </th>
                  <td>
                    <StateCell item={item} />
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
                          {item.recent.lastFailure.error ?? (item.recent.lastFailure.statusCode !== null ? `HTTP ${item.recent.lastFailure.statusCode}` : 'failed')}
                        </span>
                      </>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                  {controllable && (
                    <td>
                      {item.state?.paused !== undefined && (
                        <button type="button" class="button" onClick={() => void setPaused(item, !item.state!.paused)}>
                          {item.state.paused ? `Resume ${item.name}` : `Pause ${item.name}`}
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
      {data && !controllable && (
        <p class="muted small">Circuit state and pause/resume appear here once the service tracks them (destination protection).</p>
      )}
    </section>
  );
}

const rateClass = (rate: number | null) => (rate === null ? '' : rate >= 0.99 ? 'rate--ok' : rate >= 0.9 ? 'rate--warn' : 'rate--bad');

function StateCell({ item }: { item: DestinationItem }) {
  if (!item.state) return <span class="muted">not tracked</span>;
  if (item.state.paused) return <span class="tag tag--bad">paused</span>;
  if (item.state.circuit === 'open') return <span class="tag tag--bad">circuit open</span>;
  if (item.state.circuit === 'half-open') return <span class="tag tag--warn">half-open</span>;
  return <span class="tag tag--ok">{item.state.circuit === 'closed' ? 'healthy' : 'active'}</span>;
}
