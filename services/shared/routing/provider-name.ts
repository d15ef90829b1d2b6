/**
 * Provider names usable in /webhooks/{provider}: what PROVIDERS_FILE may define, what the direct webhook path serves,
 * and what a route's `provider` must be (besides `*`) to ever match an event. Shared because the ingress, the
 * runtime and the worker's routes file all read it.
 */
export const PROVIDER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
