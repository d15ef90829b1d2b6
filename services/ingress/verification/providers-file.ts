import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { PROVIDER_NAME_PATTERN } from '../../shared/routing/provider-name.js';
import { decodeStandardWebhookSecret, STANDARD_WEBHOOK_SECRET_RULE } from '../../shared/standard-webhooks/decode-secret.js';
import { ConfigFileError } from '../../shared/config/config-file-error.js';
import { unexpandedReferenceProblem } from '../../shared/config/unexpanded-reference.js';

/** Built-in providers, configured through their own variables; a PROVIDERS_FILE may not redefine them. */
export const BUILT_IN_PROVIDERS: readonly string[] = ['stripe', 'github', 'paypal'];

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name');
const fieldPath = z.string().regex(/^[^.]+(?:\.[^.]+)*$/, "must be a dot path such as 'id' or 'data.id'");
/**
 * Only JSON media types: both verifiers parse every body as JSON, so a form or text type would let a correctly signed
 * delivery through the 415 check and the signature check, only to answer it 400 "not valid JSON" (and lose it).
 */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json$/i;
const mediaType = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, { message: "must be a media type such as 'application/json'", abort: true })
  .regex(JSON_MEDIA_TYPE, "must be 'application/json' or 'application/<name>+json': the body is always parsed as JSON")
  .transform((value) => value.toLowerCase());
/** An empty list (or `secrets:` with no value) disables the provider. */
const secretList = z
  .array(
    z
      .string()
      .min(1, 'must not be empty')
      .superRefine((secret, ctx) => {
        const problem = unexpandedReferenceProblem(secret);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, abort: true });
      }),
  )
  .nullable()
  .transform((value) => value ?? []);

const standardWebhooksProvider = z.strictObject({
  type: z.literal('standard-webhooks'),
  secrets: secretList.pipe(
    z.array(
      z.string().refine((secret) => {
        try {
          decodeStandardWebhookSecret(secret);
          return true;
        } catch {
          return false;
        }
      }, STANDARD_WEBHOOK_SECRET_RULE),
    ),
  ),
  contentTypes: z.array(mediaType).min(1).optional(),
});

const hmacProvider = z
  .strictObject({
    type: z.literal('hmac'),
    header: headerName,
    algorithm: z.enum(['sha1', 'sha256', 'sha512']),
    encoding: z.enum(['hex', 'base64']),
    // Empty means none, as when omitted (the README example spells it out as `prefix: ""`).
    prefix: z.string().optional(),
    secrets: secretList,
    idHeader: headerName.optional(),
    typeHeader: headerName.optional(),
    idField: fieldPath.optional(),
    typeField: fieldPath.optional(),
    contentTypes: z.array(mediaType).min(1).optional(),
  })
  .superRefine((provider, ctx) => {
    // The verifier reads the header when one is named and never looks at the body field: given both, the file would
    // say the id (or type) comes from the signed body while it comes from an unsigned header.
    for (const [header, field] of [
      ['idHeader', 'idField'],
      ['typeHeader', 'typeField'],
    ] as const) {
      if (provider[header] !== undefined && provider[field] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `give either ${header} or ${field}, not both` });
      }
    }
  });

const providerSchema = z.discriminatedUnion('type', [standardWebhooksProvider, hmacProvider], {
  error: (issue) =>
    issue.code === 'invalid_union' ? "'type' must be 'standard-webhooks' or 'hmac'" : undefined,
});

const providersFileSchema = z.strictObject({
  providers: z
    .record(z.string(), providerSchema)
    .nullable()
    .transform((value) => value ?? {})
    .superRefine((providers, ctx) => {
      for (const name of Object.keys(providers)) {
        if (!PROVIDER_NAME_PATTERN.test(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'provider name must match ^[a-z0-9][a-z0-9_-]{0,62}$' });
        } else if (BUILT_IN_PROVIDERS.includes(name)) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `'${name}' is a built-in provider and cannot be redefined here`,
          });
        }
      }
    }),
});

export type StandardWebhooksProviderDefinition = z.output<typeof standardWebhooksProvider> & { name: string };
export type HmacProviderDefinition = z.output<typeof hmacProvider> & { name: string };
export type ProviderDefinition = StandardWebhooksProviderDefinition | HmacProviderDefinition;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Parses and validates the text of a PROVIDERS_FILE. Throws an Error whose single-line message names `fileName`
 * and the offending path (e.g. `providers.shop.algorithm`); secrets are never echoed.
 */
export function parseProvidersFile(text: string, fileName: string): ProviderDefinition[] {
  // Merge keys (`<<: *shop`), as Helm's and docker compose's YAML readers resolve them: providers that differ only in
  // their secrets share one anchored definition. Without them `<<` stayed a literal key and the error blamed `type`.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true, merge: true });
  const yamlError = document.errors[0];
  if (yamlError !== undefined) {
    // Only the first line ("<problem> at line L, column C:"): the source excerpt that follows may hold a secret.
    const summary = (yamlError.message.split('\n')[0] ?? yamlError.code).replace(/:$/, '');
    throw new ConfigFileError(`Invalid PROVIDERS_FILE ${fileName}: YAML error: ${summary}`);
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigFileError(`Invalid PROVIDERS_FILE ${fileName}: ${(error as Error).message}`);
  }
  if (data === null || data === undefined) {
    throw new ConfigFileError(`Invalid PROVIDERS_FILE ${fileName}: (root): expected a mapping with a 'providers' key`);
  }
  const result = providersFileSchema.safeParse(data);
  if (!result.success) {
    const details = result.error.issues
      .slice(0, 5)
      .map((issue) => `${formatPath(issue.path)}: ${issue.message}`)
      .join('; ');
    throw new ConfigFileError(`Invalid PROVIDERS_FILE ${fileName}: ${details}`);
  }
  return Object.entries(result.data.providers).map(([name, definition]) => ({ ...definition, name }));
}

/** Reads and validates a PROVIDERS_FILE (synchronously: called once at start-up). */
export function loadProvidersFile(path: string): ProviderDefinition[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    // The absolute path too: a relative one is read from the working directory, which may not be the one meant.
    const where = resolve(path) === path ? path : `${path} (${resolve(path)})`;
    throw new ConfigFileError(`Cannot read PROVIDERS_FILE ${where}: ${code}`);
  }
  return parseProvidersFile(text, path);
}

/**
 * Per provider, the request headers (lower-case) its events are kept with besides the usual ones: an `hmac`
 * provider's `idHeader` / `typeHeader`, as its verifier keeps them. Route filters may read them (ROUTES_FILE checks).
 */
export function providerKeptHeaders(definitions: readonly ProviderDefinition[]): Record<string, string[]> {
  return Object.fromEntries(
    definitions.map((definition) => [
      definition.name,
      definition.type === 'hmac'
        ? [definition.idHeader, definition.typeHeader].filter((name): name is string => name !== undefined).map((name) => name.toLowerCase())
        : [],
    ]),
  );
}
