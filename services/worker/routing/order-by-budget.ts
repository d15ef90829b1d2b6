import type jsonata from 'jsonata';
import { forEachAstNode } from './jsonata-ast-walk.js';

/**
 * The most comparisons the order-by operators (`items^(price)`) of one transform evaluation may make; past it the
 * evaluation fails.
 *
 * The order-by runs JSONata's own merge sort (evaluateSortExpression calls it directly, so it cannot be replaced from
 * outside as `$sort` is, linear-memory-sort.ts), which merges two runs by recursion, one level per item taken, each
 * level holding a copy of the rest of a run until the merge ends: a merge of m items holds up to ~m²/4 references.
 * The time limit is checked as each comparison evaluates the terms, but it stops the sort only after a second of
 * that growth, as far as the machine's speed takes it in that second: an order-by over 100,000 objects grew the
 * process by 270–360 MB (peak resident memory) before the limit stopped it on a 2-core test machine, and a machine
 * twice as fast reaches merges twice as large, holding four times as much. Counting comparisons bounds the largest
 * merge whatever the machine: merge-sorting k items takes at least (k/2)·log2(k) comparisons (about k·log2(k) for
 * most orders), so 20,000 comparisons reach a merge of at most ~3,400 items, holding at most ~3 million references
 * (23 MB). Measured: an order-by over 100,000 objects (in ascending, descending or mixed order) now fails in ~0.2 s
 * with 35–55 MB of peak growth, garbage included (test/unit/route-transform-order-by.test.ts). A list of 2,000 items
 * sorts within the budget in any order (merge sort's worst case for 2,000 is 19,953 comparisons; ~18,000 for a
 * shuffled one, in ~0.25 s), as do many short lists (the count is the evaluation's, so that the bound holds however
 * the lists are split).
 */
export const ORDER_BY_COMPARISON_BUDGET = 20_000;

/**
 * The binding the rewritten terms call: a name no expression can write (`$` names have no spaces or hyphens), so an
 * expression can neither call nor rebind it. The rewrite runs after jsonata-unknown-functions.ts's check, which would
 * otherwise count the call as one of a function JSONata lacks.
 */
export const ORDER_BY_COMPARISON_BINDING = 'order-by comparison';

interface SortNode {
  type: 'sort';
  position?: number;
  terms: { expression: object }[];
}

/**
 * Rewrites each order-by in a compiled expression's syntax tree (`compiled.ast()`, the tree JSONata evaluates) so
 * that its first term, evaluated twice per comparison (once for each item), is the argument of a call of
 * {@link ORDER_BY_COMPARISON_BINDING}, which returns it unchanged: `items^(price)` is evaluated as
 * `items^(<count>(price))`. The term is evaluated as before, in the same frame (a call's arguments are evaluated in
 * the caller's: its `:=`, a tuple sort's `#$i` and `@$o` are what they were), its errors at the same positions. Run
 * after the checks that walk the tree for the author's own calls. Returns whether the expression has an order-by.
 */
export function countOrderByComparisons(ast: jsonata.ExprNode): boolean {
  const sorts: SortNode[] = [];
  forEachAstNode(ast, (value) => {
    const node = value as Partial<SortNode>;
    if (node.type === 'sort' && Array.isArray(node.terms) && node.terms.length > 0) sorts.push(node as SortNode);
  });
  for (const { position, terms: [term] } of sorts) {
    if (term === undefined) continue;
    term.expression = {
      type: 'function',
      value: '(',
      position,
      procedure: { type: 'variable', value: ORDER_BY_COMPARISON_BINDING, position },
      arguments: [term.expression],
    };
  }
  return sorts.length > 0;
}

/**
 * The function bound as {@link ORDER_BY_COMPARISON_BINDING} for one evaluation: counts the first terms' evaluations
 * (two per comparison) and fails the evaluation once they pass the budget, before the sort's memory grows further.
 */
export function orderByComparisonCounter(budget = ORDER_BY_COMPARISON_BUDGET): (term: unknown) => unknown {
  let evaluations = 0;
  return (term) => {
    if (++evaluations > 2 * budget) {
      throw new Error(
        `order-by (^( )) over this event's list made more than ${budget} comparisons: its sort holds memory growing with the square of the list's length; sort long lists with $sort(items, function($l, $r) { $l.price > $r.price })`,
      );
    }
    return term;
  };
}
