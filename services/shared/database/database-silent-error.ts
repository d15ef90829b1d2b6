/**
 * PostgreSQL accepted a connection of the start (the database check, the migrations' lock session) and answered its
 * startup, then did not answer a statement in time: a frozen server, a network partition, a proxy that stopped
 * forwarding. A connection error (database-errors.ts): the start tries again on a fresh connection while its deadline
 * lasts, then fails with this message, which says what it waited for.
 */
export class DatabaseSilentError extends Error {
  readonly code = 'DATABASE_SILENT';
  constructor(statement: string, waitedMs: number, cause?: unknown) {
    super(
      `no answer to "${statement.replace(/\s+/g, ' ').trim().slice(0, 120)}" for ${Math.round(waitedMs / 1000)} s: ` +
        'the connection was accepted, then PostgreSQL went silent (a frozen server, a network partition, a proxy no longer forwarding)',
      { cause },
    );
    this.name = 'DatabaseSilentError';
  }
}
