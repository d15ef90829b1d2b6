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

/** `"{provider}.{eventType}"` with an event's values filled in; anything else in the template is kept as written. */
export function renderAddress(template: string, values: Record<TemplateField, string>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => ((TEMPLATE_FIELDS as readonly string[]).includes(name) ? values[name as TemplateField] : whole));
}

/**
 * Why `subject` cannot be published to on NATS, or undefined when it can: tokens separated by `.`, none empty,
 * none a wildcard (`*`, `>`), no whitespace.
 */
export function natsSubjectProblem(subject: string): string | undefined {
  if (subject === '') return 'is empty';
  if (/\s/.test(subject)) return 'contains whitespace';
  const tokens = subject.split('.');
  if (tokens.some((token) => token === '')) return 'has an empty token (a leading, trailing or doubled ".")';
  if (tokens.some((token) => token === '*' || token === '>')) return 'has a wildcard token ("*" or ">"), which cannot be published to';
  return undefined;
}

/** Why `routingKey` cannot be used on AMQP 0-9-1, or undefined when it can (a short string: at most 255 bytes). */
export function amqpRoutingKeyProblem(routingKey: string): string | undefined {
  return Buffer.byteLength(routingKey, 'utf8') > 255 ? 'is longer than 255 bytes' : undefined;
}
