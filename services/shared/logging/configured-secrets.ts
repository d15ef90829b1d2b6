/**
 * The one place that lists every configured secret for the log redactor, whatever the role: the provider secrets
 * from the environment and from PROVIDERS_FILE, ADMIN_API_TOKEN, PRESTOP_TOKEN, the passwords in DATABASE_URL and REDIS_URL, and
 * from ROUTES_FILE every destination's signing secret, URL credentials and sensitive static header values. Every
 * role registers all of them at start, before it serves a request: a client can echo any of them into any role's
 * log lines (a path, a correlation id), whether or not that role uses the value itself.
 */
import type { Config } from '../config/config.js';
import { isTokenLikePathSegment } from '../destinations/token-like-path-segment.js';
import { basicCredentialOf } from '../http/basic-credentials.js';
import { registerSecretValues, SENSITIVE_KEY, urlPassword } from './logger.js';

/**
 * What the service read from its files, as far as secrets go. Structural on purpose: it accepts the loaders'
 * results (loadProvidersFile, loadRoutesFile) as they are, including fields added to them later.
 */
export interface SecretBearingFiles {
  /** PROVIDERS_FILE definitions. */
  providers?: readonly { readonly secrets?: readonly string[] | null }[];
  /** ROUTES_FILE. */
  routes?: {
    readonly destinations?: Readonly<
      Record<string, { readonly url?: string; readonly secret?: string; readonly headers?: Readonly<Record<string, string>> }>
    >;
  };
}

export type SecretBearingConfig = {
  providers: Pick<Config['providers'], 'stripeSecrets' | 'githubSecrets'>;
  adminApiToken?: string;
  preStopToken?: string;
  database: Pick<Config['database'], 'url'>;
  redis: Pick<Config['redis'], 'url'>;
};

/**
 * Header or query parameter names whose values are credentials (plus `auth…`, `…credential…`, `…key`, and what
 * signed URLs use: Azure SAS `sig`, an Azure Functions `code`, a generic `hmac`).
 */
const SENSITIVE_NAME = new RegExp(`${SENSITIVE_KEY.source}|auth|credential|key$|^sig$|^code$|hmac`, 'i');

/** A credential header's value, and the credential alone when it follows a scheme (`Bearer <token>`). */
function credentialValues(value: string): string[] {
  const scheme = /^[A-Za-z][\w-]*\s+(\S.*)$/.exec(value.trim());
  return scheme ? [value, scheme[1]!] : [value];
}

/**
 * The password in a URL, decoded and as written; the values of credential-like query parameters; and for a
 * destination's URL (`destination`) also a user name with no password (a token, as in `nats://token@host`) and
 * token-like path segments. Not for DATABASE_URL and REDIS_URL: there a bare user name is a role (`postgres`, Redis's
 * `default`), and redacting it would cut that word out of every log line (`/webhooks/[REDACTED]ql-docs`).
 */
function urlSecrets(value: string, destination = false): string[] {
  const out: string[] = [];
  try {
    const url = new URL(value);
    if (url.password) out.push(url.password);
    const decoded = urlPassword(value);
    if (decoded) out.push(decoded);
    if (destination && url.username && !url.password) out.push(url.username, decodeURIComponent(url.username));
    for (const [name, parameter] of url.searchParams) if (SENSITIVE_NAME.test(name)) out.push(parameter);
    // Token-like path segments: the URL goes into spans (`url.full`) and error texts.
    if (destination) for (const segment of url.pathname.split('/')) if (isTokenLikePathSegment(segment)) out.push(segment);
    // What an HTTP destination is sent for its user and password (Authorization: Basic …), which it may echo in its
    // answer. Last: it throws on invalid percent-encoding (refused by the file's validation for HTTP destinations).
    if (destination && (url.protocol === 'http:' || url.protocol === 'https:')) out.push(basicCredentialOf(url) ?? '');
  } catch {
    // An unparseable URL was refused by the file's validation already.
  }
  return out;
}

/** Every configured secret, for {@link registerSecretValues} (duplicates and short values are left to it). */
export function configuredSecrets(config: SecretBearingConfig, files: SecretBearingFiles = {}): string[] {
  const secrets: (string | undefined)[] = [
    ...config.providers.stripeSecrets,
    ...config.providers.githubSecrets,
    config.adminApiToken,
    config.preStopToken,
    ...urlSecrets(config.database.url),
    ...(config.redis.url ? urlSecrets(config.redis.url) : []),
  ];
  for (const provider of files.providers ?? []) secrets.push(...(provider.secrets ?? []));
  for (const destination of Object.values(files.routes?.destinations ?? {})) {
    secrets.push(destination.secret);
    if (destination.url) secrets.push(...urlSecrets(destination.url, true));
    for (const [name, value] of Object.entries(destination.headers ?? {})) {
      if (SENSITIVE_NAME.test(name)) secrets.push(...credentialValues(value));
    }
  }
  return secrets.filter((secret): secret is string => typeof secret === 'string' && secret.trim() !== '');
}

/** Registers {@link configuredSecrets} with the log redactor; called once at start, before the listener opens. */
export function registerConfiguredSecrets(config: SecretBearingConfig, files: SecretBearingFiles = {}): void {
  registerSecretValues(configuredSecrets(config, files));
}
