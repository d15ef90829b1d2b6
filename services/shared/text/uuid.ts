const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a uuid in its text form (what PostgreSQL's `uuid` takes without an error). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
