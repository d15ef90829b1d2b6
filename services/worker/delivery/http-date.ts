const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** `Sun, 06 Nov 1994 08:49:37 GMT`: the form senders must use. */
const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** `Sunday, 06-Nov-94 08:49:37 GMT`: obsolete, a two-digit year. */
const RFC_850_DATE = /^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** `Sun Nov  6 08:49:37 1994`: ANSI C's asctime(), no zone written, GMT all the same. */
const ASCTIME_DATE = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

/**
 * An HTTP-date (RFC 9110 5.6.7) as ms since the epoch; undefined when `text` is none of its three forms, which every
 * recipient must accept, or names no real time. All three are GMT: Date.parse read the RFC 850 form not at all (its
 * day is spelt out) and asctime in the process's time zone (a pod with TZ set read a date a minute ahead as hours off).
 * A two-digit year is the one within 50 years of `now`, as RFC 9110 has it.
 */
export function parseHttpDate(text: string, now = Date.now()): number | undefined {
  let fields: { year: number; month: string; day: number; time: [string, string, string] };
  let match = IMF_FIXDATE.exec(text);
  if (match) fields = { year: Number(match[3]), month: match[2]!, day: Number(match[1]), time: [match[4]!, match[5]!, match[6]!] };
  else if ((match = RFC_850_DATE.exec(text))) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(match[3]);
    if (year > thisYear + 50) year -= 100;
    else if (year < thisYear - 50) year += 100;
    fields = { year, month: match[2]!, day: Number(match[1]), time: [match[4]!, match[5]!, match[6]!] };
  } else if ((match = ASCTIME_DATE.exec(text))) {
    fields = { year: Number(match[6]), month: match[1]!, day: Number(match[2]!.trim()), time: [match[3]!, match[4]!, match[5]!] };
  } else return undefined;
  const month = MONTHS.indexOf(fields.month.toLowerCase());
  const [hours, minutes, seconds] = fields.time.map(Number) as [number, number, number];
  if (month < 0 || hours > 23 || minutes > 59 || seconds > 60) return undefined;
  const at = Date.UTC(fields.year, month, fields.day, hours, minutes, seconds);
  // No 31 Nov: Date.UTC would roll it over into December.
  if (new Date(at).getUTCDate() !== fields.day) return undefined;
  return at;
}
