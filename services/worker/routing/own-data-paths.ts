/**
 * What a filter's dot paths can reach: the event's own JSON data, as MongoDB would see it, and nothing of
 * JavaScript's. sift resolves a path step as `value[name]`, so on its own `body.constructor.name` is "Object",
 * `body.toString` a function, `body.__proto__` Object.prototype and `body.items.length` the array's length, where
 * MongoDB sees no such fields (it reaches into an array's elements for a field name, and has `$size` for the length).
 * sift offers no way to resolve paths differently, so both sides are renamed instead: in the document the filter is
 * run on (ownDataDocument) and in the query's paths and literal objects (ownDataQuery), a property name is put
 * behind a NUL character, which no built-in name starts with, so every step that names a property finds only an own
 * one of the JSON data, or nothing. Two kinds of names stay as they are, because sift needs them so and no built-in
 * has one: a name that reads as a number (sift indexes an array with it: `body.items.0`, and an object's field "0"
 * is reached the same way) and a name starting with `$` (an operator in a query). Arrays stay arrays, so sift's
 * MongoDB semantics for them (matching any element, `$size`, `$elemMatch`, `$all`) are untouched. One JavaScript
 * reading is left, as strings have no names to rename: a numeric step into a string (`body.note.0`) finds its first
 * character, where MongoDB finds nothing.
 */

/** Put before a property name so that it names no built-in of Object, Array, String or Number. */
const OWN_NAME_PREFIX = '\u0000';

/** The name a property has in the filter's view: behind the prefix, unless it reads as a number or starts with `$`. */
const ownName = (name: string): string => (name.startsWith('$') || !Number.isNaN(Number(name)) ? name : OWN_NAME_PREFIX + name);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A copy of JSON data with every object's names renamed (arrays stay arrays), for a filter compiled by
 * {@link ownDataQuery} to run on. Also how a literal object in the query (`{ "$eq": { … } }`) is renamed, so that it
 * still equals the data it describes. Plain objects will do: no name left as it is names anything they inherit.
 */
export function ownDataDocument(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ownDataDocument);
  if (!isObject(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) copy[ownName(name)] = ownDataDocument(item);
  return copy;
}

/**
 * A MongoDB-style query with its dot paths and literal objects renamed to match {@link ownDataDocument}. Mirrors how
 * sift reads a query: a key starting with `$` is an operator (kept), any other key a dot path (each step renamed);
 * an operator's value is itself a query for `$and`, `$or`, `$nor`, `$all` (each element), `$not` and `$elemMatch`,
 * and a value to compare with for the others; a path's value holding an operator is a query, any other a value.
 */
export function ownDataQuery(query: unknown): unknown {
  if (!isObject(query)) return ownDataDocument(query);
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key.startsWith('$')) renamed[key] = operatorValue(key, value);
    else renamed[key.split('.').map(ownName).join('.')] = isObject(value) && Object.keys(value).some((name) => name.startsWith('$')) ? ownDataQuery(value) : ownDataDocument(value);
  }
  return renamed;
}

function operatorValue(operator: string, value: unknown): unknown {
  switch (operator) {
    case '$and':
    case '$or':
    case '$nor':
    case '$all':
      return Array.isArray(value) ? value.map(ownDataQuery) : value;
    case '$not':
    case '$elemMatch':
      return ownDataQuery(value);
    default:
      return ownDataDocument(value);
  }
}
