import { Component } from 'preact';
import { formatAgo, formatDateTime, formatWhen } from '../format.js';
import { href, navigate } from '../router.js';
import type { EventItem } from '../types.js';
import { IsolatedText } from './isolated-text.js';
import { StatusBadge } from './status-badge.js';

/**
 * When a row's "… ago" text can have changed, as a number that changes then: the refresh's own time while the event
 * is under a minute old ("12 s ago" moves with each refresh), the minute after that ("5 min ago", "3 h ago", and the
 * time alone turning into a date at midnight), and nothing once it shows its date (older than a day). Given to every
 * row from the same refresh time, so a refresh re-renders only the rows whose data or text changed.
 */
export function agoClock(receivedAt: string, now: number): number {
  const age = now - new Date(receivedAt).getTime();
  if (age < 60_000) return now;
  if (age < 86_400_000) return Math.floor(now / 60_000);
  return 0;
}

const sameItem = (a: EventItem, b: EventItem) => a === b || (Object.keys(a) as (keyof EventItem)[]).every((key) => a[key] === b[key]);

export interface EventRowProps {
  item: EventItem;
  /** Came with the last refresh: highlighted. */
  isNew: boolean;
  selected: boolean;
  /** The same function from one render to the next, or every row renders again. */
  onToggle(id: string, on: boolean): void;
  /** {@link agoClock} for this row. */
  clock: number;
}

/**
 * One row of the events list. A live refresh reads every row again, each one a new object even when nothing about it
 * changed: rendering them all each time froze the page for hundreds of ms past a couple of thousand rows. A row renders
 * again only when its data (field by field), its highlight, its selection or its clock changed.
 */
export class EventRow extends Component<EventRowProps> {
  override shouldComponentUpdate(next: EventRowProps): boolean {
    const now = this.props;
    return next.clock !== now.clock || next.isNew !== now.isNew || next.selected !== now.selected || next.onToggle !== now.onToggle || !sameItem(next.item, now.item);
  }

  override render() {
    const { item, isNew, selected, onToggle } = this.props;
    return (
      <tr
        class={isNew ? 'row--new' : undefined}
        onClick={(event) => {
          const target = event.target as HTMLElement;
          if (target.closest('a, input, button, label')) return;
          navigate(`/events/${item.id}`);
        }}
      >
        <td class="col-check">
          <input type="checkbox" aria-label={`Select ${item.eventType} ${item.externalId}`} checked={selected} onChange={(event) => onToggle(item.id, (event.target as HTMLInputElement).checked)} />
        </td>
        <td class="nowrap">
          <time dateTime={item.receivedAt} title={formatDateTime(item.receivedAt)}>
            {formatWhen(item.receivedAt)}
          </time>{' '}
          <span class="muted small">{formatAgo(item.receivedAt)}</span>
        </td>
        <td>
          <StatusBadge status={item.status} />
          {item.replays > 0 && <span class="muted small"> replayed {item.replays}×</span>}
        </td>
        <td>{item.provider}</td>
        <td>
          <a href={href(`/events/${item.id}`)}>
            <IsolatedText text={item.eventType} />
          </a>
        </td>
        <td class="mono">
          <IsolatedText text={item.externalId} />
        </td>
        <td class="num">{item.attempts}</td>
        <td class="error-cell" title={item.lastError ?? undefined}>
          <IsolatedText text={item.lastError ?? ''} />
        </td>
      </tr>
    );
  }
}
