import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { decodeStandardWebhookSecret } from '../../shared/standard-webhooks/decode-secret.js';

/** Largest `maxConcurrency` a destination may set (as WORKER_CONCURRENCY's own bound). */
export const MAX_DESTINATION_CONCURRENCY = 1000;

const destinationSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  /** Standard Webhooks secret (`whsec_…`); forwarded requests are signed when set. */
  // Checked here, as the signer will read it, so a secret it cannot use stops the start instead of every delivery.
  secret: z
    .string()
    .min(1)
    .superRefine((secret, ctx) => {
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
   * Requests in flight to this destination (and connections to it) per worker process; default WORKER_CONCURRENCY.
   * Forwards beyond it wait for a slot, and their timeout starts only once they hold one.
   */
  maxConcurrency: z.number().int().positive().max(MAX_DESTINATION_CONCURRENCY).optional(),
  /** Extra static headers, e.g. an API key the destination expects. */
  headers: z.record(z.string(), z.string()).optional(),
});

const routeSchema = z.object({
  provider: z.string().min(1),
  /** Globs over the event type (`invoice.*`); omitted = every type. */
  events: z.array(z.string().min(1)).optional(),
  to: z.array(z.string().min(1)).min(1),
});

const routesFileSchema = z
  .object({
    destinations: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), destinationSchema).default({}),
    routes: z.array(routeSchema).default([]),
  })
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
export type DestinationConfig = RoutesFile['destinations'][string];

/** Parses ROUTES_FILE content; the error message names the file and the offending path. */
export function parseRoutes(text: string, source = 'ROUTES_FILE'): RoutesFile {
  let document: unknown;
  try {
    document = parse(text) ?? {};
  } catch (error) {
    throw new Error(`${source}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = routesFileSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const [section, name, ...rest] = issue.path.map(String);
    // A destination's problem names the destination first: `destination "billing": secret: …`.
    const where =
      section === 'destinations' && name !== undefined ? `destination "${name}"${rest.length > 0 ? `: ${rest.join('.')}` : ''}` : issue.path.join('.') || '(root)';
    throw new Error(`${source}: ${where}: ${issue.message}`);
  }
  return result.data;
}

export function loadRoutesFile(path: string): RoutesFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`ROUTES_FILE ${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseRoutes(text, `ROUTES_FILE ${path}`);
}
