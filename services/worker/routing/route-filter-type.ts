import sift from 'sift';

/** How sift makes an operation of a query key (`options.operations`): (its value, the object holding it, options). */
type OperationCreator = Parameters<typeof sift.createEqualsOperation>[2]['operations'][string];

/** The JSON types a payload value can have, by MongoDB's `$type` aliases for them. */
const JSON_TYPES: Record<string, (value: unknown) => boolean> = {
  number: (value) => typeof value === 'number',
  string: (value) => typeof value === 'string',
  bool: (value) => typeof value === 'boolean',
  array: (value) => Array.isArray(value),
  object: (value) => value !== null && typeof value === 'object' && !Array.isArray(value),
  null: (value) => value === null,
};
const ALIASES = Object.keys(JSON_TYPES).join(', ');

/**
 * A filter's `$type` (`{ "$type": "string" }`, or a list of aliases: any of them), checked when the query compiles.
 * sift's own looks its alias up per event, so an unknown one (`"objectId"`, or MongoDB's BSON numbers such as `2`)
 * passed the start and then threw on every event the path was present in, failing its delivery again and again.
 * Payloads are JSON, so the aliases are JSON's types; `object` (which sift lacks) is a non-array object.
 */
export const $type: OperationCreator = (types, ownerQuery, options) => {
  const list: unknown[] = Array.isArray(types) ? types : [types];
  if (list.length === 0) throw new Error(`$type needs at least one type: ${ALIASES}`);
  const tests = list.map((alias) => {
    if (typeof alias !== 'string' || !Object.prototype.hasOwnProperty.call(JSON_TYPES, alias)) {
      throw new Error(`$type ${JSON.stringify(alias)} is not a JSON type: use one of ${ALIASES}`);
    }
    return JSON_TYPES[alias]!;
  });
  return sift.createEqualsOperation((value: unknown) => tests.some((test) => test(value)), ownerQuery, options);
};
