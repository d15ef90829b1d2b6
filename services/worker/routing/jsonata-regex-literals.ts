import type jsonata from 'jsonata';
import { forEachAstNode } from './jsonata-ast-walk.js';

/** A regex literal (`/^ch_[a-z0-9]+$/i`) in a JSONata expression, and where it starts in the expression's text. */
export interface JsonataRegexLiteral {
  regex: RegExp;
  position: number | undefined;
}

/**
 * Every regex literal in a compiled JSONata expression, found by walking its syntax tree (`compiled.ast()`): the
 * parser only checks a literal's syntax (it makes a RegExp of it), and the regex engine is constructed from it when
 * the literal is evaluated, per event. Walking the tree lets the start refuse one RE2 cannot run, instead of each
 * event failing. The walk visits every object and array in the tree, whatever the node type, so no place a literal
 * can stand (arguments, steps, predicates, lambda bodies, object constructors) is missed.
 */
export function jsonataRegexLiterals(ast: jsonata.ExprNode): JsonataRegexLiteral[] {
  const found: JsonataRegexLiteral[] = [];
  forEachAstNode(ast, (value) => {
    const node = value as { type?: unknown; value?: unknown; position?: unknown };
    // The parser names the node type 'regex' (its type declarations say 'regexp').
    if (node.type === 'regex' && node.value instanceof RegExp) {
      found.push({ regex: node.value, position: typeof node.position === 'number' ? node.position : undefined });
    }
  });
  return found;
}
