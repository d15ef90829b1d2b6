/**
 * How one forwarded request ended. `result` is the `webhook_delivery_attempts_total` label; `internal_error` is an
 * exception inside the worker itself (a bug, a destination it cannot sign for): a failed attempt like any other.
 */
export interface DeliveryResult {
  destination: string;
  succeeded: boolean;
  result: 'success' | 'http_error' | 'timeout' | 'network_error' | 'handler_error' | 'internal_error';
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}
