/**
 * True when some JSON object in `text` has two members with the same name. JSON.parse
 * keeps the last one silently, so `{"sub":"a","sub":"b"}` would read differently in
 * different parsers; such a token is refused. Assumes `text` is otherwise valid JSON.
 */
export function hasDuplicateMembers(text: string): boolean {
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
        if (top.has(name)) return true;
        top.add(name);
        expectKey = false;
      }
      i = end;
    } else if (char === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (char === '[') {
      stack.push(null);
    } else if (char === '}' || char === ']') {
      stack.pop();
    } else if (char === ',') {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return false;
}
