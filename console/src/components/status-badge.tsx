import { STATUS_LABELS } from '../format.js';
import type { EventStatus } from '../types.js';

/** The status in words (never colour alone), tinted by kind. */
export function StatusBadge({ status }: { status: EventStatus }) {
  return <span class={`badge badge--${status.toLowerCase().replace('_', '-')}`}>{STATUS_LABELS[status]}</span>;
}
