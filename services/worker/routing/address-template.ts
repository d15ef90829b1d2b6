/** The values a broker destination's `routingKey` / `subject` template may name. */
export const TEMPLATE_FIELDS = ['provider', 'eventType'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * The placeholders a template names that are not {@link TEMPLATE_FIELDS} (`{id}`, `{}`), for ROUTES_FILE's
 * validation; empty when the template is usable.
 */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((match) => match[1]!).filter((name) => !(TEMPLATE_FIELDS as readonly string[]).includes(name));
}

/**
 * Why a template writes a field as `${provider}` / `${eventType}` (as JavaScript template literals and shells do), or
 * undefined: the file is not expanded and a field is `{provider}`, so the `$` stayed in every address
 * (`webhooks.$stripe.$invoice.paid`, stored by a stream capturing `webhooks.>` where no consumer looks).
 */
export function dollarPlaceholderProblem(template: string): string | undefined {
  const field = /\$\{([^{}]*)\}/.exec(template)?.[1];
  if (field === undefined || !(TEMPLATE_FIELDS as readonly string[]).includes(field)) return undefined;
  return `writes \${${field}}: a template field is written {${field}}, without "$" (the file is not expanded; the "$" would be part of every address)`;
}

/**
 * Whether a template names any of the event's values (`{provider}`, `{eventType}`): then each event, or kind of event,
 * has an address of its own, and an address nobody takes (no queue bound, no stream capturing it) is that event's,
 * while a fixed address is the same for every event, so nobody taking it is the destination's.
 */
export function namesEventFields(template: string): boolean {
  return [...template.matchAll(PLACEHOLDER)].some((match) => (TEMPLATE_FIELDS as readonly string[]).includes(match[1]!));
}

/** `"{provider}.{eventType}"` with an event's values filled in; anything else in the template is kept as written. */
export function renderAddress(template: string, values: Record<TemplateField, string>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => ((TEMPLATE_FIELDS as readonly string[]).includes(name) ? values[name as TemplateField] : whole));
}

/**
 * Why `subject` cannot be published to on NATS, or undefined when it can: tokens separated by `.`, none empty,
 * none a wildcard (`*`, `>`), no whitespace, and not a subject NATS keeps for itself. A first token starting with `$`
 * names the server's own APIs: `$JS.API.…` is JetStream's, where a publish is a request (`$JS.API.STREAM.PURGE.<s>`
 * purges stream s, `$JS.API.STREAM.DELETE.<s>` deletes it), `$SYS.…` the server's, `$KV.…` / `$O.…` buckets'.
 * `_INBOX.…` is where requests' replies go: a publish there answers someone else's request. Checked on every
 * rendered subject, because the event type, the provider's string, is part of it.
 */
export function natsSubjectProblem(subject: string): string | undefined {
  if (subject === '') return 'is empty';
  if (/\s/.test(subject)) return 'contains whitespace';
  const tokens = subject.split('.');
  if (tokens.some((token) => token === '')) return 'has an empty token (a leading, trailing or doubled ".")';
  if (tokens.some((token) => token === '*' || token === '>')) return 'has a wildcard token ("*" or ">"), which cannot be published to';
  const first = tokens[0]!;
  if (first.startsWith('$') || first === '_INBOX') {
    return `starts with "${first.slice(0, 40)}", which NATS reserves for its own APIs ($JS.API, $SYS, …) and replies (_INBOX): never published to`;
  }
  return undefined;
}

/**
 * Why a subject template is refused whatever it is filled in with, or undefined: its first token must be literal.
 * A first token an event fills in (`{eventType}`, `{provider}.…`) lets the provider's event type choose the subject's
 * root, e.g. `$JS.API.STREAM.PURGE.<stream>`, a JetStream API request; a literal root (`webhooks.{eventType}`) keeps
 * every subject under it. (Each rendered subject is checked as well: {@link natsSubjectProblem}.)
 */
export function natsSubjectTemplateProblem(template: string): string | undefined {
  const first = template.split('.')[0]!;
  if (/\{[^{}]*\}/.test(first)) {
    return `must start with a literal token, e.g. "webhooks.{provider}.{eventType}" (its first token "${first}" would be the event's to choose, e.g. $JS.API.…, a JetStream API request)`;
  }
  return undefined;
}

/** Why `routingKey` cannot be used on AMQP 0-9-1, or undefined when it can (a short string: at most 255 bytes). */
export function amqpRoutingKeyProblem(routingKey: string): string | undefined {
  return Buffer.byteLength(routingKey, 'utf8') > 255 ? 'is longer than 255 bytes' : undefined;
}
