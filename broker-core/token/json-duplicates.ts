/**
 * How deep a JSON document from a caller (a token segment, a request body) may nest.
 * JSON.parse itself is iterative, but much of what reads a parsed value recurses
 * (JSON.stringify overflows the stack at about 5,000 levels); nothing a broker reads
 * nests beyond a handful (Kubernetes claims: 3).
 */
export const MAX_JSON_DEPTH = 32;

/** What makes otherwise valid JSON unacceptable to the broker. */
export type JsonShapeProblem = 'duplicate_members' | 'too_deep';

/**
 * One pass over valid JSON `text`: a duplicate member name in any object, or nesting
 * deeper than `maxDepth` objects and arrays. JSON.parse keeps the last of two members
 * silently, so `{"sub":"a","sub":"b"}` would read differently in different parsers;
 * such a document is refused. Iterative, so any depth is safe to scan.
 */
export function jsonShapeProblem(text: string, maxDepth = MAX_JSON_DEPTH): JsonShapeProblem | undefined {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const raw = text.slice(i + 1, end);
        // Escapes (`\u0073ub` is `sub`) are decoded before comparing; plain names are taken as is.
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.has(name)) return 'duplicate_members';
        top.add(name);
        expectKey = false;
      }
      i = end;
    } else if (char === '{' || char === '[') {
      if (stack.length >= maxDepth) return 'too_deep';
      stack.push(char === '{' ? new Set() : null);
      expectKey = char === '{';
    } else if (char === '}' || char === ']') {
      stack.pop();
    } else if (char === ',') {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}

/** True when some JSON object in `text` has two members with the same name. Assumes `text` is otherwise valid JSON. */
export function hasDuplicateMembers(text: string): boolean {
  return jsonShapeProblem(text, Infinity) === 'duplicate_members';
}
