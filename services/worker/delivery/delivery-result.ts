/** How one forwarded request ended. `result` is the `webhook_delivery_attempts_total` label. */
export interface DeliveryResult {
  destination: string;
  succeeded: boolean;
  result: 'success' | 'http_error' | 'timeout' | 'network_error' | 'handler_error';
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}
