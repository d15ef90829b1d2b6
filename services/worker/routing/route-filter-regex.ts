import sift from 'sift';
import { compileLinearRegex } from './linear-regex.js';

/** How sift makes an operation of a query key (`options.operations`): (its value, the object holding it, options). */
type OperationCreator = Parameters<typeof sift.createEqualsOperation>[2]['operations'][string];

/** MongoDB's `$options` that RE2 has: case-insensitive, multi-line anchors, and dot matching newlines. */
const SUPPORTED_OPTIONS = /^[ims]*$/;

/**
 * A filter's `$regex`, as MongoDB reads it (`{ "$regex": "^charge\\.", "$options": "i" }`), matched by RE2 in
 * linear time (see linear-regex.ts) instead of sift's own `$regex`, which runs JavaScript's backtracking RegExp on
 * the payload's strings. Like sift's, it holds for a string value that the expression matches anywhere in, and for
 * an array with such an element. Compiled with the query, so a pattern RE2 cannot run, or an `$options` other than
 * i, m and s (`x`, extended syntax, is MongoDB's but not RE2's), stops the start.
 */
export const $regex: OperationCreator = (pattern, ownerQuery, options) => {
  if (typeof pattern !== 'string') throw new Error(`$regex must be a string (got ${JSON.stringify(pattern)})`);
  const flags = Object.prototype.hasOwnProperty.call(ownerQuery, '$options') ? ownerQuery.$options : '';
  if (typeof flags !== 'string' || !SUPPORTED_OPTIONS.test(flags)) {
    throw new Error(`$options ${JSON.stringify(flags)} is not supported: use any of i (case-insensitive), m (multi-line ^ and $), s (dot matches newline)`);
  }
  const regex = compileLinearRegex(pattern, flags);
  return sift.createEqualsOperation((value: unknown) => typeof value === 'string' && regex.test(value), ownerQuery, options);
};

/** `$options` only qualifies the `$regex` beside it (MongoDB refuses it alone), which reads it. */
export const $options: OperationCreator = (_options, ownerQuery) => {
  if (!Object.prototype.hasOwnProperty.call(ownerQuery, '$regex')) throw new Error('$options needs a $regex beside it');
  // No operation of its own: sift skips a null one, as it does for its own `$options` (a flag another reads).
  return null as unknown as ReturnType<OperationCreator>;
};
