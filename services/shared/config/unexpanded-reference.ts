/**
 * An environment reference as shells, docker compose and envsubst write it: `${NAME}`, also with a default
 * (`${NAME:-x}`). ROUTES_FILE and PROVIDERS_FILE are read as written, nothing in them is expanded.
 */
const ENVIRONMENT_REFERENCE = /\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?+=-][^}]*)?\}/;

/**
 * Why a value holding an environment reference cannot be what was meant, or undefined. A secret or header value
 * written `${ACME_SECRET}` was taken as those 14 characters: every signature failed (401) or every delivery was
 * refused by its destination, with nothing at start to say why. Names the reference, never the rest of the value.
 */
export function unexpandedReferenceProblem(value: string): string | undefined {
  const reference = ENVIRONMENT_REFERENCE.exec(value)?.[0];
  if (reference === undefined) return undefined;
  return `holds the environment reference ${reference}, which is not expanded (the file is read as written): put the value itself in the file (the chart keeps both files in a Secret)`;
}
