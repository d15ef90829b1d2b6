import sift from 'sift';
import { ownDataDocument, ownDataQuery } from './own-data-paths.js';
import { $all, $and, $mod, $nor, $or, $size } from './route-filter-arguments.js';
import { $options, $regex } from './route-filter-regex.js';
import { $type } from './route-filter-type.js';

/** What a route's `filter` is matched against. */
export interface RouteFilterInput {
  /** The event's payload (the stored jsonb `payload`). */
  body: unknown;
  /** The request headers kept with the event (`webhook_events.headers`: lower-case names). */
  headers: Record<string, string>;
  provider: string;
  eventType: string;
}

export type RouteFilter = (input: RouteFilterInput) => boolean;

// MongoDB's query operators as sift implements them, except `$where`: it runs JavaScript (a string is compiled with
// `new Function`), and a routes file is configuration, not code. `$regex` (with its `$options`) is our own: sift's
// runs JavaScript's backtracking RegExp over payload strings; ours runs RE2, in linear time. `$type` is ours too: it
// checks its aliases when the file is read (route-filter-type.ts). `$size`, `$all`, `$and`, `$or` and `$nor` are sift's,
// their arguments checked first (route-filter-arguments.ts): a wrong one matched no event, silently; `$mod` too, and it
// takes only numbers, as MongoDB's does (sift's took null and "" for 0).
const { $elemMatch, $eq, $exists, $gt, $gte, $in, $lt, $lte, $ne, $nin, $not } = sift;
const OPERATIONS = { $all, $and, $elemMatch, $eq, $exists, $gt, $gte, $in, $lt, $lte, $mod, $ne, $nin, $nor, $not, $options, $or, $regex, $size, $type };

/**
 * Compiles a route's `filter`: a MongoDB-style query (`{ "body.data.object.amount": { "$gte": 1000 } }`) over
 * {@link RouteFilterInput}, evaluated by sift; its dot paths reach the input's own JSON data only, as MongoDB's do
 * (own-data-paths.ts): not `constructor`, `toString` or `__proto__`, nor an array's `length`. Throws, with sift's reason, on a query it cannot compile (an unknown
 * or misplaced operator, a `$regex` that is malformed or that RE2 cannot run): ROUTES_FILE's validation turns that
 * into the start's one-line error.
 */
export function compileRouteFilter(query: Record<string, unknown>): RouteFilter {
  let test: (document: unknown) => boolean;
  try {
    test = sift.createQueryTester<unknown, unknown>(ownDataQuery(query), { operations: OPERATIONS });
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message === 'Unsupported operation: $where' ? '$where is not allowed (it runs code); use the query operators' : message);
  }
  return (input) => test(ownDataInput(input));
}

/**
 * The filters' view of an event (see own-data-paths.ts), made once per input: the worker hands every route's filter
 * the same input object for an attempt, so a payload is copied once however many filters look at it.
 */
const ownDataInputs = new WeakMap<RouteFilterInput, unknown>();
function ownDataInput(input: RouteFilterInput): unknown {
  let document = ownDataInputs.get(input);
  if (document === undefined) ownDataInputs.set(input, (document = ownDataDocument(input)));
  return document;
}
