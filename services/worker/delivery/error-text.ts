/**
 * Control characters but tab, line feed and carriage return: C0, DEL and C1. NUL among them is why this exists: a
 * destination's error answer may be binary (a gzip'd or protobuf error page), and PostgreSQL's text refuses 0x00
 * (SQLSTATE 22021), which failed the whole finish of the attempt; the others only garble the console and terminals.
 */
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

/**
 * A failed delivery's error text as attempts keep it (PostgreSQL, the console, the failed job in Redis): each control
 * character shown as U+FFFD (as the decoder already shows bytes that are not UTF-8), cut to `maxLength` characters.
 */
export function errorText(text: string, maxLength: number): string {
  return text.slice(0, maxLength).replace(CONTROL_CHARACTERS, '\uFFFD');
}
