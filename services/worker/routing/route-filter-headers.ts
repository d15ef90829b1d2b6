/** The query operators whose operands are whole queries over the same document (`{ "$or": [{…}, {…}] }`). */
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor']);

/**
 * The request header names a route filter reads through `headers.<name>` paths, as written (`headers.X-Tenant` gives
 * `X-Tenant`), at the query's top level and inside `$and` / `$or` / `$nor`, and inside a query-level `$not` (sift
 * reads `{ "$not": { … } }` as the negation of the query it holds). A path's first segment after `headers.` is the
 * name: dot paths go no deeper into a header's string value than that.
 */
export function filterHeaderNames(query: Record<string, unknown>): string[] {
  const names: string[] = [];
  const isQuery = (clause: unknown): clause is Record<string, unknown> => typeof clause === 'object' && clause !== null && !Array.isArray(clause);
  for (const [key, value] of Object.entries(query)) {
    if (LOGICAL_OPERATORS.has(key) && Array.isArray(value)) {
      for (const clause of value) {
        if (isQuery(clause)) names.push(...filterHeaderNames(clause));
      }
    } else if (key === '$not' && isQuery(value)) {
      names.push(...filterHeaderNames(value));
    } else if (key.startsWith('headers.')) {
      names.push(key.slice('headers.'.length).split('.')[0]!);
    }
  }
  return names;
}

/**
 * Why a filter reading `headers.<name>` would never see the header, or undefined when every header it reads is one
 * the ingress keeps with the event (`kept`, lower-case). The ingress stores only a fixed list of request headers
 * (KEPT_REQUEST_HEADERS) and an `hmac` provider's id/type headers: a filter on any other header would be accepted
 * and then match no event, each one COMPLETED with nothing delivered and nothing saying why.
 */
export function unkeptHeaderProblem(query: Record<string, unknown>, kept: readonly string[]): string | undefined {
  for (const name of filterHeaderNames(query)) {
    if (name !== name.toLowerCase() && kept.includes(name.toLowerCase())) {
      return `"headers.${name}": header names are kept lower-case, so this path matches nothing: write "headers.${name.toLowerCase()}"`;
    }
    if (!kept.includes(name)) {
      return `"headers.${name}": the ingress does not keep the request header "${name}" with the event, so the filter would never see it; filters can read ${kept.join(', ')} (and an hmac provider's idHeader / typeHeader from PROVIDERS_FILE, in routes for that provider or '*')`;
    }
  }
  return undefined;
}
