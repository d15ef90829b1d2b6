import type { EventStatus } from './types.js';

const dateTime = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const integer = new Intl.NumberFormat();

export const formatDateTime = (iso: string | number | Date): string => dateTime.format(new Date(iso));
export const formatTime = (iso: string | number | Date): string => time.format(new Date(iso));
export const formatTimeSeconds = (iso: string | number | Date): string => timeSeconds.format(new Date(iso));
export const formatNumber = (n: number): string => integer.format(n);

/** The time alone for today, else the date and time. */
export function formatWhen(iso: string): string {
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? timeSeconds.format(date) : dateTime.format(date);
}

/** "12 s ago", "5 min ago", "3 h ago", else the date. */
export function formatAgo(iso: string, now = Date.now()): string {
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return formatDateTime(iso);
}

export const formatDuration = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);

export const formatPercent = (ratio: number): string => `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}%`;

export const STATUS_LABELS: Record<EventStatus, string> = {
  PENDING: 'Pending',
  PROCESSING: 'Processing',
  COMPLETED: 'Completed',
  FAILED: 'Failed',
  DEAD_LETTER: 'Dead letter',
};

/** Statuses after which nothing happens until an operator replays. */
export const isFinal = (status: EventStatus): boolean => status === 'COMPLETED' || status === 'DEAD_LETTER';
