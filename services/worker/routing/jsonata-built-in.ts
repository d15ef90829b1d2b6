import jsonata from 'jsonata';

/**
 * JSONata's own implementation of a built-in function (`$replace`, `$string`, `$eval`…: its validation, errors and
 * formatting), for the stand-ins a transform registers in its place to call once their own check has passed.
 */
export function jsonataBuiltIn<F = (this: unknown, ...args: unknown[]) => unknown>(name: string): Promise<F> {
  return (jsonata(`$${name}`).evaluate({}) as Promise<{ implementation: F }>).then((fn) => fn.implementation);
}
