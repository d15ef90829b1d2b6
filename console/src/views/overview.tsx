import { useConsole } from '../app.js';
import { Chart } from '../components/chart.js';
import { IsolatedText } from '../components/isolated-text.js';
import { RetryNote } from '../components/retry-note.js';
import { formatNumber, formatTimeSeconds } from '../format.js';
import { usePolled } from '../hooks.js';
import { navigate } from '../router.js';
import type { Overview } from '../types.js';

const WINDOWS = [1, 3, 6, 12, 24];
const sum = (values: (number | null)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);

export function OverviewView({ params }: { params: URLSearchParams }) {
  const { api } = useConsole();
  const requested = Number(params.get('hours'));
  const hours = WINDOWS.includes(requested) ? requested : 3;
  const overview = usePolled((signal) => api.get<Overview>(`admin/overview?hours=${hours}`, { signal }), [hours, api], 15_000);
  const data = overview.data;
  // The service's own per-minute peak of the depth: the sum of each state's peak counted a job that changed state
  // within the minute (waiting, then retrying) twice.
  const depth = data?.queue.depth ?? [];
  const queue = data?.queue.current;

  return (
    <section aria-labelledby="overview-title">
      <div class="view-head">
        <h1 id="overview-title">Overview</h1>
        <div class="field field--inline">
          <label for="overview-window">Window</label>
          <select id="overview-window" value={String(hours)} onChange={(event) => navigate('/overview', { hours: (event.target as HTMLSelectElement).value })}>
            {WINDOWS.map((value) => (
              <option key={value} value={String(value)}>
                Last {value === 1 ? 'hour' : `${value} hours`}
              </option>
            ))}
          </select>
        </div>
      </div>
      {overview.error && (
        <p class="error" role="alert">
          Could not load the overview: <IsolatedText text={overview.error.message} />
        </p>
      )}
      {overview.error && <RetryNote retry={overview.retry} onRetryNow={overview.retryNow} />}
      {!data ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <dl class="tiles">
            <div class="tile">
              <dt>Received</dt>
              <dd>{formatNumber(sum(data.received))}</dd>
            </div>
            <div class="tile">
              <dt>Completed</dt>
              <dd>{formatNumber(sum(data.completed))}</dd>
            </div>
            <div class="tile tile--dead">
              <dt>Dead-lettered</dt>
              <dd>{formatNumber(sum(data.deadLettered))}</dd>
            </div>
            <div class="tile">
              <dt>Queue now</dt>
              <dd>
                {queue ? formatNumber(queue.waiting + queue.prioritized + queue.delayed + queue.active) : 'unknown'}
                {queue && (
                  <span class="tile__detail">
                    {formatNumber(queue.waiting + queue.prioritized)} waiting · {formatNumber(queue.active)} active · {formatNumber(queue.delayed)} retrying
                  </span>
                )}
              </dd>
            </div>
          </dl>
          <div class="charts">
            <Chart title="Received" unit="events per minute" tone="received" values={data.received} from={data.from} stepSeconds={data.stepSeconds} />
            <Chart title="Completed" unit="events per minute" tone="completed" values={data.completed} from={data.from} stepSeconds={data.stepSeconds} />
            <Chart title="Dead-lettered" unit="events per minute" tone="dead" values={data.deadLettered} from={data.from} stepSeconds={data.stepSeconds} />
            <Chart title="Queue depth, peak per minute" unit="jobs waiting, retrying or active" tone="queue" values={depth} from={data.from} stepSeconds={data.stepSeconds} />
          </div>
          <p class="muted small">
            Per minute, the current minute last. Completed and dead-lettered count events by when they got there. Queue depth is sampled by
            this service instance since {formatTimeSeconds(data.queue.sampledSince)}. Checked {overview.checkedAt ? formatTimeSeconds(overview.checkedAt) : ''}.
          </p>
        </>
      )}
    </section>
  );
}
