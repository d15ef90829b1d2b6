/**
 * True when an error means "PostgreSQL is unreachable or the connection broke" rather than "this query is wrong":
 * those become 503 (the provider retries) instead of 500.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // TypeORM wraps the driver's error.
  const driverError = (error as { driverError?: unknown }).driverError;
  if (driverError && driverError !== error && isConnectionError(driverError)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|terminating connection/i.test(
    error.message,
  );
}

/**
 * True when PostgreSQL refused a statement for one row's data: a data exception (SQLSTATE class 22) or an integrity
 * violation (class 23). Only such an error can be one row's fault in a batch; anything else fails every row.
 */
export function isRowDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
