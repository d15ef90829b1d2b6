/** Machine-readable reasons an HTTP request fails; each maps to one status code in the error middleware. */
export type AppErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TOO_MANY_REQUESTS'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL';

const statusByCode: Record<AppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/**
 * An error whose message is safe to show the client. Anything else thrown in a request becomes a 500 with a
 * generic message; the original goes to the log only.
 */
export class AppError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: AppErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
    this.statusCode = statusByCode[code];
  }
}

/** What a {@link DependencyUnavailableError} waited for, as the client is told. */
const UNAVAILABLE_MESSAGES = {
  database: 'Storage is temporarily unavailable; retry later',
  redis: 'Queue is temporarily unavailable; retry later',
  'paypal-certificates': 'Signing certificates cannot be fetched now; retry later',
} as const;

/**
 * A dependency could not serve the request now (PostgreSQL, Redis, PayPal's certificate downloads busy); the client
 * should retry later (HTTP 503). Never a refusal of the request itself, so never counted as a failed verification.
 */
export class DependencyUnavailableError extends AppError {
  /**
   * True when whoever threw it has logged it already (rate-limited, where a client can cause it at will): the HTTP
   * layers then skip their own "request failed" line for it.
   */
  readonly logged: boolean;

  constructor(
    readonly dependency: keyof typeof UNAVAILABLE_MESSAGES,
    options?: { cause?: unknown; logged?: boolean },
  ) {
    super('SERVICE_UNAVAILABLE', UNAVAILABLE_MESSAGES[dependency], options);
    this.name = 'DependencyUnavailableError';
    this.logged = options?.logged ?? false;
  }
}
