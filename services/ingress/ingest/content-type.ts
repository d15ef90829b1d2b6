/** The media type of a request without parameters, lower-cased: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaTypeOf(header: string | undefined): string {
  if (!header) return '';
  return header.split(';', 1)[0]!.trim().toLowerCase();
}

/** Whether `mediaType` is one of `accepted`, counting `application/*+json` as `application/json`. */
export function isAcceptedMediaType(mediaType: string, accepted: readonly string[]): boolean {
  if (accepted.includes(mediaType)) return true;
  return accepted.includes('application/json') && /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}
