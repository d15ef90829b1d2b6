import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { KEPT_REQUEST_HEADERS } from '../../shared/routing/kept-headers.js';
import { PROVIDER_NAME_PATTERN } from '../../shared/routing/provider-name.js';
import { DEFAULT_CIRCUIT_BREAKER } from '../../shared/destinations/destination-policy.js';
import { httpTargetOf, UrlCredentialsError } from '../delivery/url-credentials.js';
import { decodeStandardWebhookSecret } from '../../shared/standard-webhooks/decode-secret.js';
import { amqpRoutingKeyProblem, dollarPlaceholderProblem, natsSubjectProblem, natsSubjectTemplateProblem, renderAddress, TEMPLATE_FIELDS, unknownPlaceholders } from './address-template.js';
import { compileRouteFilter } from './route-filter.js';
import { unkeptHeaderProblem } from './route-filter-headers.js';
import { compileRouteTransform } from './route-transform.js';
import { staticHeadersSchema } from './static-headers.js';
import { ConfigFileError } from '../../shared/config/config-file-error.js';
import { unexpandedReferenceProblem } from '../../shared/config/unexpanded-reference.js';

/** Largest `maxConcurrency` a destination may set (as WORKER_CONCURRENCY's own bound). */
export const MAX_DESTINATION_CONCURRENCY = 1000;

/** Largest `rateLimit.perSecond` a destination may set. */
export const MAX_DESTINATION_RATE_PER_SECOND = 10_000;

/**
 * A mapping that takes only the keys of `shape`: a misspelt or misplaced key (`fliter:`, `circuitbreaker:`) stops the
 * start, naming the key and the keys `what` takes, instead of being ignored and routing or protecting differently
 * than written.
 */
const strictMapping = <Shape extends z.ZodRawShape>(shape: Shape, what: string) =>
  z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => JSON.stringify(key)).join(', ')} (${what} takes ${Object.keys(shape).join(', ')})`
        : undefined,
  });

/**
 * `circuitBreaker`: `true` (the defaults: {@link DEFAULT_CIRCUIT_BREAKER}), `false` (off, also against `defaults`),
 * or `{ failureThreshold, cooldownMs }`, each defaulted when left out.
 */
const circuitBreakerSchema = z.union(
  [
    z.boolean(),
    z
      .object({
        /** Consecutive failed attempts that open the circuit. */
        failureThreshold: z.number().int().min(1).max(1000).optional(),
        /** How long an open circuit holds deliveries before one probe tests the destination. */
        cooldownMs: z.number().int().min(100).max(3_600_000).optional(),
      })
      .strict(),
  ],
  { error: `must be true, false or { failureThreshold, cooldownMs } (defaults ${DEFAULT_CIRCUIT_BREAKER.failureThreshold} and ${DEFAULT_CIRCUIT_BREAKER.cooldownMs})` },
);

/** What a destination may be named. */
const DESTINATION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Destination types: how a destination is delivered to. A destination without `type` is `http`. */
export const DESTINATION_TYPES = ['http', 'amqp', 'nats'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/**
 * Settings every destination type takes. What a delivery does with them is the same for each type: `secret` signs
 * the bytes sent (`webhook-signature`), `timeoutMs` bounds one attempt (an HTTP answer, a broker's confirm or ack),
 * `maxConcurrency` bounds this worker's deliveries in flight to the destination, `headers` are sent with each.
 */
const commonDestinationFields = {
  /** Standard Webhooks secret (`whsec_…`); what is sent is signed when set. */
  // Checked here, as the signer will read it, so a secret it cannot use stops the start instead of every delivery.
  secret: z
    .string()
    .min(1)
    .superRefine((secret, ctx) => {
      const reference = unexpandedReferenceProblem(secret);
      if (reference) {
        ctx.addIssue({ code: 'custom', message: reference });
        return;
      }
      try {
        decodeStandardWebhookSecret(secret);
      } catch (error) {
        // The decoder's message states the rule and never echoes the secret; nor does this issue (no `input`).
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .optional(),
  timeoutMs: z.number().int().positive().max(300_000).optional(),
  /**
   * Deliveries in flight to this destination (for HTTP: requests, and connections) per worker process; default
   * WORKER_CONCURRENCY. Deliveries beyond it wait for a slot, and their timeout starts only once they hold one.
   */
  maxConcurrency: z.number().int().positive().max(MAX_DESTINATION_CONCURRENCY).optional(),
  /**
   * Extra static headers, e.g. an API key the destination expects (AMQP message headers, NATS headers for brokers).
   * Names are case-insensitive: two naming one header would send it twice, with either value read.
   */
  headers: staticHeadersSchema.optional(),
  /**
   * At most `perSecond` deliveries started in any rolling second, across every worker process and pod (a sliding
   * log in Redis). A delivery over the limit waits (its job is delayed; no attempt is used).
   */
  rateLimit: strictMapping({ perSecond: z.number().int().positive().max(MAX_DESTINATION_RATE_PER_SECOND) }, 'rateLimit').optional(),
  /** Off unless set here or in `defaults.circuitBreaker` (see circuitBreakerSchema). */
  circuitBreaker: circuitBreakerSchema.optional(),
};

/** A string field a broker destination cannot do without: its absence is named as such. */
const required = (type: DestinationType) => z.string({ error: (issue) => (issue.input === undefined ? `required for a destination of type ${type}` : 'must be a string') }).min(1, 'must not be empty');

/**
 * A `{provider}` / `{eventType}` template: checked as written (`templateProblem`, e.g. a NATS subject's root must be
 * literal), then once filled in with sample values (`problem`).
 */
const addressTemplate = (type: DestinationType, problem: (address: string) => string | undefined, templateProblem?: (template: string) => string | undefined) =>
  required(type).superRefine((template, ctx) => {
    const dollar = dollarPlaceholderProblem(template);
    if (dollar) {
      ctx.addIssue({ code: 'custom', message: `"${template}" ${dollar}` });
      return;
    }
    const unknown = unknownPlaceholders(template);
    if (unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {${unknown[0]}} (a template may use ${TEMPLATE_FIELDS.map((field) => `{${field}}`).join(' and ')})` });
      return;
    }
    const why = templateProblem?.(template) ?? problem(renderAddress(template, { provider: 'provider', eventType: 'event.type' }));
    if (why) ctx.addIssue({ code: 'custom', message: `"${template}" ${why}` });
  });

/**
 * An http destination. A user and password in its `url` are sent as HTTP Basic auth: they must decode (percent-
 * encoding), and a static `Authorization` header next to them stops the start rather than one silently winning.
 */
const httpDestinationSchema = strictMapping(
  {
    type: z.literal('http').optional(),
    url: z.url({ protocol: /^https?$/ }),
    ...commonDestinationFields,
  },
  'an http destination',
).superRefine((destination, ctx) => {
  let hasCredentials: boolean;
  try {
    hasCredentials = httpTargetOf(destination.url).authorization !== undefined;
  } catch (error) {
    // The message never echoes the URL, whose password is a secret. A URL that does not parse is url's own issue.
    if (error instanceof UrlCredentialsError) ctx.addIssue({ code: 'custom', path: ['url'], message: error.message });
    return;
  }
  const authorization = Object.keys(destination.headers ?? {}).find((name) => name.toLowerCase() === 'authorization');
  if (hasCredentials && authorization !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['headers', authorization], message: 'conflicts with the user and password in url (sent as Basic auth): set one or the other' });
  }
});

const amqpDestinationSchema = strictMapping(
  {
    type: z.literal('amqp'),
    /** `amqp://user:pass@host:5672/vhost` (or amqps); one connection per URL is shared by its destinations. */
    url: z.url({ protocol: /^amqps?$/, error: (issue) => (issue.input === undefined ? 'required for a destination of type amqp' : 'must be an amqp:// or amqps:// URL') }),
    /** A durable topic exchange (declared so when missing); `${NAME}` is not expanded, and would be declared so. */
    exchange: required('amqp').superRefine((exchange, ctx) => {
      const reference = unexpandedReferenceProblem(exchange);
      if (reference) ctx.addIssue({ code: 'custom', message: reference });
    }),
    /** Template, e.g. `{provider}.{eventType}`. */
    routingKey: addressTemplate('amqp', amqpRoutingKeyProblem),
    /**
     * The broker's `max_message_size` (RabbitMQ does not tell its clients): a message over it is refused before it is
     * sent, as that event's failed attempt. Without it the broker refuses the message by closing the channel it was
     * published on, on every attempt.
     */
    maxMessageBytes: z.number().int().positive().optional(),
    ...commonDestinationFields,
  },
  'an amqp destination',
);

const natsDestinationSchema = strictMapping(
  {
    type: z.literal('nats'),
    /** `nats://[user:pass@]host:4222` (or tls://); one connection per URL is shared by its destinations. */
    url: z.url({ protocol: /^(nats|tls)$/, error: (issue) => (issue.input === undefined ? 'required for a destination of type nats' : 'must be a nats:// or tls:// URL') }),
    /** Template, e.g. `webhooks.{provider}.{eventType}`, its first token literal; a JetStream stream must capture it. */
    subject: addressTemplate('nats', natsSubjectProblem, natsSubjectTemplateProblem),
    ...commonDestinationFields,
  },
  'a nats destination',
);

const schemaOfType: Record<DestinationType, z.ZodType> = { http: httpDestinationSchema, amqp: amqpDestinationSchema, nats: natsDestinationSchema };

export type HttpDestinationConfig = z.infer<typeof httpDestinationSchema>;
export type AmqpDestinationConfig = z.infer<typeof amqpDestinationSchema>;
export type NatsDestinationConfig = z.infer<typeof natsDestinationSchema>;
export type DestinationConfig = HttpDestinationConfig | AmqpDestinationConfig | NatsDestinationConfig;

/** Picks the destination's schema by `type` (absent: http), so each problem is stated for that type. */
const destinationSchema = z.unknown().transform((value, ctx): DestinationConfig => {
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const schema = type === undefined ? httpDestinationSchema : typeof type === 'string' ? schemaOfType[type as DestinationType] : undefined;
  if (!schema) {
    ctx.addIssue({ code: 'custom', path: ['type'], message: `unknown destination type ${JSON.stringify(type)} (expected ${DESTINATION_TYPES.join(', ')})` });
    return z.NEVER;
  }
  // A URL written as compose files write them (`amqp://app:${RABBIT_PASSWORD}@rabbitmq`) parses as a URL all the same:
  // it was accepted and every delivery failed (a password or host of those characters). Named before the URL's own
  // checks, which would only call one with `${PORT}` invalid; never the rest of the URL, whose password is a secret.
  const url = value !== null && typeof value === 'object' ? (value as { url?: unknown }).url : undefined;
  const reference = typeof url === 'string' ? unexpandedReferenceProblem(url) : undefined;
  if (reference) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: reference });
    return z.NEVER;
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    return z.NEVER;
  }
  return result.data as DestinationConfig;
});

/** A problem compiling an expression, as the issue message (the compiled value itself is the route table's). */
const compiles = <T>(compile: (value: T) => unknown, what: string) => (value: T, ctx: z.RefinementCtx) => {
  try {
    compile(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `${what} does not compile: ${(error as Error).message}` });
  }
};

const routeSchema = strictMapping(
  {
    /**
     * `*` or a provider name exactly as served at /webhooks/{provider}: matching compares names as written, so
     * `Stripe` or `"stripe "` would be a route that never matches and its events would be COMPLETED undelivered.
     */
    provider: z
      .string()
      .refine(
        (provider) => provider === '*' || PROVIDER_NAME_PATTERN.test(provider),
        `must be '*' or a provider name as in /webhooks/{provider} (${PROVIDER_NAME_PATTERN.source}: lower case, no spaces), or the route matches no event`,
      ),
    /** Globs over the event type (`invoice.*`); omitted = every type. An empty list would match no type. */
    events: z.array(z.string().min(1)).min(1, 'must not be empty (it would match no event type): omit events to match every type').optional(),
    /** MongoDB-style query over `{body, headers, provider, eventType}`; the route sends nothing for events it rejects. */
    filter: z
      .record(z.string(), z.unknown(), { error: 'must be a mapping (a MongoDB-style query)' })
      .superRefine(compiles(compileRouteFilter, 'the query'))
      .optional(),
    /** JSONata over the payload; its result, as JSON, is the body sent (and signed). */
    transform: z
      .string({ error: 'must be a string (a JSONata expression)' })
      // Its own message: the type's above would call an empty string no string.
      .min(1, 'is empty (a JSONata expression is needed; leave transform out to send the original bytes)')
      .superRefine(compiles(compileRouteTransform, 'the JSONata expression'))
      .optional(),
    to: z.array(z.string().min(1)).min(1),
  },
  'a route',
);

const routesFileSchema = strictMapping(
  {
    /** Settings every destination takes unless it sets its own: `circuitBreaker` (e.g. `true` for every destination). */
    defaults: strictMapping({ circuitBreaker: circuitBreakerSchema.optional() }, 'defaults').optional(),
    /**
     * By name: a metrics label, a path segment of the admin API's /admin/destinations/{name}, part of Nats-Msg-Id. A
     * name outside the rule is refused stating it (zod's own "Invalid key in record" said neither rule nor problem).
     */
    destinations: z
      .record(z.string().regex(DESTINATION_NAME), destinationSchema, {
        error: (issue) => (issue.code === 'invalid_key' ? 'a destination name is 1 to 64 letters, digits, "_", "." or "-"' : undefined),
      })
      .default({}),
    routes: z.array(routeSchema).default([]),
  },
  'a routes file',
)
  .superRefine((file, ctx) => {
    file.routes.forEach((route, index) => {
      route.to.forEach((name, toIndex) => {
        if (!(name in file.destinations)) {
          ctx.addIssue({ code: 'custom', path: ['routes', index, 'to', toIndex], message: `unknown destination "${name}"` });
        }
      });
    });
  });

export type RoutesFile = z.infer<typeof routesFileSchema>;
export type RouteConfig = RoutesFile['routes'][number];

/** A destination's type: its `type`, or http when it has none. */
export function destinationType(destination: Pick<DestinationConfig, 'type'>): DestinationType {
  return destination.type ?? 'http';
}

/** What ROUTES_FILE is checked against besides itself. */
export interface RoutesFileContext {
  /**
   * Per provider of PROVIDERS_FILE, the request headers the ingress keeps with its events besides
   * KEPT_REQUEST_HEADERS (an `hmac` provider's `idHeader` / `typeHeader`, lower-case): its routes' filters (and `*`
   * routes') may read them too.
   */
  providerHeaders?: Readonly<Record<string, readonly string[]>>;
}

/** Parses ROUTES_FILE content; the error message names the file and the offending path. */
export function parseRoutes(text: string, source = 'ROUTES_FILE', context: RoutesFileContext = {}): RoutesFile {
  let document: unknown;
  try {
    // Merge keys (`<<: *common`) as in PROVIDERS_FILE, and as Helm's and docker compose's YAML readers resolve them.
    document = parse(text, { merge: true });
  } catch (error) {
    // The first line of yaml's message ends in ':' before the excerpt it shows on the next lines (as in PROVIDERS_FILE).
    throw new ConfigFileError(`${source}: not valid YAML: ${((error as Error).message.split('\n')[0] ?? '').replace(/:$/, '')}`);
  }
  // A file set but empty (a Secret's key written empty, a mount of the wrong key, a truncated write) used to be read
  // as no destinations and no routes: the worker started and completed every event with nothing delivered.
  if (document === null || document === undefined) {
    throw new ConfigFileError(
      `${source}: holds no destinations or routes (the file is empty, or only comments or null): every event would be COMPLETED with nothing delivered; write "routes: []" to deliver nothing on purpose, or unset ROUTES_FILE`,
    );
  }
  const result = routesFileSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const [section, name, ...rest] = issue.path.map(String);
    // A destination's problem names the destination first: `destination "billing": secret: …`.
    const where =
      section === 'destinations' && name !== undefined ? `destination "${name}"${rest.length > 0 ? `: ${rest.join('.')}` : ''}` : issue.path.join('.') || '(root)';
    throw new ConfigFileError(`${source}: ${where}: ${issue.message}`);
  }
  // A filter on a request header the ingress does not keep would be accepted and then match no event.
  const providerHeaders = context.providerHeaders ?? {};
  result.data.routes.forEach((route, index) => {
    if (route.filter === undefined) return;
    const extra = route.provider === '*' ? Object.values(providerHeaders).flat() : (providerHeaders[route.provider] ?? []);
    const problem = unkeptHeaderProblem(route.filter, [...new Set([...KEPT_REQUEST_HEADERS, ...extra])]);
    if (problem !== undefined) throw new ConfigFileError(`${source}: routes.${index}.filter: ${problem}`);
  });
  return result.data;
}

export function loadRoutesFile(path: string, context: RoutesFileContext = {}): RoutesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // The absolute path too: a relative one is read from the working directory, which may not be the one meant.
    const where = resolve(path) === path ? path : `${path} (${resolve(path)})`;
    throw new ConfigFileError(`ROUTES_FILE ${where}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseRoutes(text, `ROUTES_FILE ${path}`, context);
}
