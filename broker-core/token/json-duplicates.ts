/**
 * How deep a JSON document from a caller (a token segment, a request body) may nest.
 * JSON.parse itself is iterative, but much of what reads a parsed value recurses
 * (JSON.stringify overflows the stack at about 5,000 levels); nothing a broker reads
 * nests beyond a handful (Kubernetes claims: 3).
 */
export const MAX_JSON_DEPTH = 32;

/** What makes otherwise valid JSON unacceptable to the broker. */
export type JsonShapeProblem = 'duplicate_members' | 'too_deep';

/** What one pass over a JSON text found. */
export interface JsonShape {
  readonly problem?: JsonShapeProblem;
  /**
   * Some number outside the strings has a fraction, an exponent or 16+ digits: JSON.parse
   * may have rounded it (broker-core/token/exact-numbers.ts). Complete only without a problem.
   */
  readonly mayRound: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * One pass over valid JSON `text`: a duplicate member name in any object, nesting deeper
 * than `maxDepth` objects and arrays, and whether a number may have been rounded.
 * JSON.parse keeps the last of two members silently, so `{"sub":"a","sub":"b"}` would read
 * differently in different parsers; such a document is refused. Iterative, so any depth is
 * safe to scan; strings are skipped with `indexOf`, not character by character. On text that
 * is not JSON it ends without looping or throwing (its answer then means nothing).
 */
export function jsonShape(text: string, maxDepth = MAX_JSON_DEPTH): JsonShape {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let mayRound = false;
  let digits = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39) {
      if (++digits >= 16) mayRound = true;
      continue;
    }
    if (digits > 0 && (code === 0x2e || code === 0x65 || code === 0x45)) mayRound = true; // . e E after a digit
    digits = 0;
    if (code === QUOTE) {
      const end = closingQuote(text, i + 1);
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const raw = text.slice(i + 1, end);
        // Escapes (`\u0073ub` is `sub`) are decoded before comparing; plain names are taken as is.
        const name = raw.includes('\\') ? decodeName(text.slice(i, end + 1)) : raw;
        if (name === undefined) return { mayRound: true }; // not JSON: nothing to say
        if (top.has(name)) return { problem: 'duplicate_members', mayRound };
        top.add(name);
        expectKey = false;
      }
      i = end;
    } else if (code === 0x7b || code === 0x5b) {
      if (stack.length >= maxDepth) return { problem: 'too_deep', mayRound };
      stack.push(code === 0x7b ? new Set() : null);
      expectKey = code === 0x7b;
    } else if (code === 0x7d || code === 0x5d) {
      stack.pop();
    } else if (code === 0x2c) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return { mayRound };
}

function decodeName(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}

/** The index of the quote that closes a string whose text starts at `from` (the text's length if none). */
function closingQuote(text: string, from: number): number {
  for (let at = text.indexOf('"', from); at !== -1; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return text.length;
}

/** A duplicate member name or nesting deeper than `maxDepth` in valid JSON `text`. */
export function jsonShapeProblem(text: string, maxDepth = MAX_JSON_DEPTH): JsonShapeProblem | undefined {
  return jsonShape(text, maxDepth).problem;
}

/** True when some JSON object in `text` has two members with the same name. Assumes `text` is otherwise valid JSON. */
export function hasDuplicateMembers(text: string): boolean {
  return jsonShapeProblem(text, Infinity) === 'duplicate_members';
}
