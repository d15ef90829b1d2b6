/** Whether `value` is an event id (a uuid, as the admin API gives them; services/admin/event-cursor.ts isUuid). */
export function isEventId(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
