/**
 * Decision 1: globs are anchored and case-sensitive; `*` matches any run of characters
 * except `:`, `**` matches any run. Every other character is literal. The token's value
 * is only ever the text matched, never a pattern.
 */
export function compileGlob(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        source += '[\\s\\S]*';
        i++;
      } else {
        source += '[^:]*';
      }
    } else {
      source += char.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'u');
}
