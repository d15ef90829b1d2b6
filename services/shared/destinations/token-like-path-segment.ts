const TOKEN_LIKE_SEGMENT = /^(?=[^.]*[A-Za-z])(?=[^.]*\d)[A-Za-z0-9_-]{20,}$/;

/**
 * Whether a destination URL's path segment is a credential: long, mixing letters and digits, no dots (Slack's
 * `/services/T…/B…/<token>`, Discord's `/api/webhooks/<id>/<token>`): incoming-webhook services put the secret in the
 * path, and whoever has the URL can post to them. One rule for the two places that hide it: the redactor of log lines
 * and error texts (configured-secrets.ts), and the admin API's `target`, where a destination is (routing-view.ts).
 */
export function isTokenLikePathSegment(segment: string): boolean {
  return TOKEN_LIKE_SEGMENT.test(segment);
}
