/**
 * True when an error means "PostgreSQL is unreachable or the connection broke" rather than "this query is wrong":
 * those become 503 (the provider retries) instead of 500.
 */
export function isConnectionError(error: unknown): boolean {
  // Not `instanceof Error`: Node's own socket errors (ECONNREFUSED) come from another realm where code runs in a vm
  // context (jest's), and were then taken for query errors.
  if (typeof error !== 'object' || error === null) return false;
  // TypeORM wraps the driver's error.
  const driverError = (error as { driverError?: unknown }).driverError;
  if (driverError && driverError !== error && isConnectionError(driverError)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    // ENETUNREACH (no route to the network: a pod's network not set up yet or a route lost; for a name with several
    // addresses, Node's AggregateError carries the first address's code, an IPv6 one this host cannot reach) is the
    // network's failure as EHOSTUNREACH is: missing, it refused the start at once and answered 500. EADDRNOTAVAIL (no
    // source address for the connect: DATABASE_URL naming `::1` on a host whose IPv6 is off, an address the pod's
    // network does not have yet) likewise.
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(code)) return true;
    // A session of the start that PostgreSQL stopped answering (database-silent-error.ts): tried again on a fresh one.
    if (code === 'DATABASE_SILENT') return true;
  }
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    // "timeout expired" is what a pg.Client's own connectionTimeoutMillis fails its connect() with (no code): taken for
    // a statement's fault, a slow PostgreSQL at start made the database check assume the database existed, and the
    // migrations then failed with "does not exist" instead of waiting.
    (/Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|terminating connection/i.test(message) ||
      message === 'timeout expired')
  );
}

/**
 * SQLSTATEs that say "PostgreSQL cannot take this statement now", whatever the statement: a read-only node after a
 * failover (25006); a serialization failure or deadlock (class 40: run again, it goes through); out of disk, memory
 * or connections (class 53); the database closed to connections, a lock timeout (class 55); shut down, cancelled or
 * timed out (class 57); an I/O error (class 58); or a schema not there yet, the migrations not run (undefined table
 * 42P01, no such database 3D000, no such schema 3F000), or not all of them: a column a migration newer than the schema
 * adds (undefined column 42703). That last is what a worker of a new release meets while its migration has not run
 * (it takes jobs from Redis whether or not it is ready): taken for a fault of the statement, its run sent the event,
 * could not record it, and sent it again on every re-run; as unavailable, the run's finish waits for the schema.
 */
const UNAVAILABLE_CLASSES = ['40', '53', '55', '57', '58'];
const UNAVAILABLE_CODES = new Set(['25006', '42P01', '42703', '3D000', '3F000']);

/**
 * True when PostgreSQL is unreachable ({@link isConnectionError}) or cannot take the statement for a while (above):
 * the request is answered 503 (the provider retries), counted as `unavailable` and seen by its alert. Anything else
 * is a fault of the statement itself (500).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isConnectionError(error)) return true;
  const driverError = (error as { driverError?: unknown } | null)?.driverError;
  if (driverError && driverError !== error && isDatabaseUnavailable(driverError)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length === 5 && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.includes(code.slice(0, 2)));
}

/**
 * True when PostgreSQL may have refused a statement for one row's data: a data exception (SQLSTATE class 22), an
 * integrity violation (class 23) or a program limit (class 54: a value too deeply nested to parse, an index entry too
 * large). Only such an error can be one row's fault in a batch; anything else fails every row.
 */
export function isRowDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code.startsWith('54'));
}

/**
 * True for a PostgreSQL data exception (SQLSTATE class 22: a value out of range, NUL in text, a malformed literal),
 * on the error or on the driver's error TypeORM wraps. Whether that is the client's fault depends on where the value
 * came from: only a caller who knows its statement's values are all request input may answer 400 for it.
 */
export function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length === 5 && code.startsWith('22')) return true;
  const driverError = (error as { driverError?: unknown } | null)?.driverError;
  return driverError !== undefined && driverError !== error && isDataException(driverError);
}
