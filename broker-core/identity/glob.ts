import { CONTROL_CHARACTERS } from './claim-text';

/**
 * Decision 1: globs are anchored and case-sensitive; `*` matches any run of characters
 * except `:`, `**` matches any run. Every other character is literal. The token's value
 * is only ever the text matched, never a pattern. Neither wildcard ever matches a
 * control character (claim-text.ts): the verifier refuses such values first, and a
 * glob alone must not let one through either.
 */
export function compileGlob(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        source += `[^${CONTROL_CHARACTERS}]*`;
        i++;
      } else {
        source += `[^:${CONTROL_CHARACTERS}]*`;
      }
    } else {
      source += char.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'u');
}
