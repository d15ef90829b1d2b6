/**
 * The route pattern of `POST /webhooks/{provider}`, as `http_request_duration_seconds` labels it (the direct path in
 * runtime/webhook-fast-path.ts too). In shared: the ingress mounts it, and service metrics create its series at start.
 */
export const WEBHOOK_ROUTE = '/webhooks/:provider';
