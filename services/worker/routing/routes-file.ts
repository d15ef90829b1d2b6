import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

const destinationSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  /** Standard Webhooks secret (`whsec_…`); forwarded requests are signed when set. */
  secret: z.string().min(1).optional(),
  timeoutMs: z.number().int().positive().max(300_000).optional(),
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
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
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
