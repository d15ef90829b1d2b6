// Long, no dots, URL-safe characters, and not readable: letters mixed with digits, or upper with lower case (a
// random token with no digit: about 1.5% of Slack's 24-character ones). A readable name (`stripe-events-receiver`,
// `incoming_payment_events`) is one case and has no digits, so it stays visible.
const TOKEN_LIKE_SEGMENT = /^(?=[A-Za-z0-9_-]{20,}$)(?:(?=.*[A-Za-z])(?=.*\d)|(?=.*[a-z])(?=.*[A-Z]))/;

/**
 * Whether a destination URL's path segment is a credential (Slack's `/services/T…/B…/<token>`, Discord's
 * `/api/webhooks/<id>/<token>`): incoming-webhook services put the secret in the path, and whoever has the URL can
 * post to them. One rule for the two places that hide it: the redactor of log lines and error texts
 * (configured-secrets.ts), and the admin API's `target`, where a destination is (routing-view.ts). A readable
 * camel-case segment of 20 characters or more is hidden too: showing a secret costs more than hiding a name.
 */
export function isTokenLikePathSegment(segment: string): boolean {
  return TOKEN_LIKE_SEGMENT.test(segment);
}
