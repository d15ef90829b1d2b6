import sift from 'sift';

/** How sift makes an operation of a query key (`options.operations`): (its value, the object holding it, options, its name). */
type OperationCreator = Parameters<typeof sift.createEqualsOperation>[2]['operations'][string];

/**
 * Operators whose argument MongoDB checks and sift does not, checked when the query compiles. sift takes any argument
 * and makes of a wrong one an operation that matches no event at all (`$mod: [0, 1]`, `$mod: 2`, `$size: "2"`): the
 * file started, and the route's destination was silently sent nothing, its events COMPLETED undelivered. Or it threw
 * its own internals at the start (`$and: { … }`: "params.map is not a function"). Each is refused, saying what the
 * operator takes, as MongoDB refuses it; a valid argument goes to sift's operation as it is (`$mod`'s to our own, which
 * only numbers pass).
 */
function checked(operation: OperationCreator, problem: (argument: unknown) => string | undefined): OperationCreator {
  return (argument, ownerQuery, options, name) => {
    const found = problem(argument);
    if (found !== undefined) throw new Error(found);
    return operation(argument, ownerQuery, options, name);
  };
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isQuery = (value: unknown) => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * MongoDB's `$mod` holds only for a number (or an array holding one). sift's computes `value % divisor` on any value,
 * and JavaScript's `%` reads null, false, "", " " and [] as 0 (and "200" as 200): `{ "$mod": [100, 0] }` took an
 * event whose field was null or empty.
 */
const numericMod: OperationCreator = (argument, ownerQuery, options) => {
  const [divisor, remainder] = argument as [number, number];
  return sift.createEqualsOperation((value: unknown) => typeof value === 'number' && value % divisor === remainder, ownerQuery, options);
};

/** `{ "$mod": [divisor, remainder] }`: two numbers, the divisor not 0. */
export const $mod = checked(numericMod, (argument) => {
  if (!Array.isArray(argument) || argument.length !== 2 || !argument.every(isNumber)) {
    return `$mod takes a list of two numbers, [divisor, remainder] (got ${JSON.stringify(argument)})`;
  }
  return argument[0] === 0 ? '$mod: the divisor cannot be 0' : undefined;
});

/** `{ "$size": n }`: an array's length, a whole number. */
export const $size = checked(sift.$size, (argument) =>
  Number.isSafeInteger(argument) && (argument as number) >= 0 ? undefined : `$size takes a whole number, an array's length (got ${JSON.stringify(argument)})`,
);

/**
 * `{ "$all": [ … ] }`: the values an array must all hold, at least one: MongoDB matches no document with `[]`, where
 * sift's matched every event (a list rendered empty turned a narrowing filter into one taking everything).
 */
export const $all = checked(sift.$all, (argument) => {
  if (!Array.isArray(argument)) return `$all takes a list of values (got ${JSON.stringify(argument)})`;
  return argument.length === 0 ? '$all takes a non-empty list of values (an empty one matches no event, as in MongoDB) (got [])' : undefined;
});

/** `$and` / `$or` / `$nor`: a non-empty list of queries. */
const queryList = (name: string) => (argument: unknown) =>
  Array.isArray(argument) && argument.length > 0 && argument.every(isQuery) ? undefined : `${name} takes a non-empty list of queries (got ${JSON.stringify(argument)})`;
export const $and = checked(sift.$and, queryList('$and'));
export const $or = checked(sift.$or, queryList('$or'));
export const $nor = checked(sift.$nor, queryList('$nor'));
