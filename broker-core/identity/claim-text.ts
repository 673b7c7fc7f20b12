import type { JWTPayload } from 'jose';
import { readClaim } from './claims';

/**
 * Characters no identity value ever holds: C0, DEL and C1 controls (`\p{Cc}`: newline,
 * CR, tab, NUL …), the line and paragraph separators U+2028/U+2029, and lone UTF-16
 * surrogates (`\p{Cs}`, text that is not well-formed Unicode). A subject ending in a
 * newline is not a subject with a trailing blank: it is a token built to slip past a
 * matcher, a log reader or a shell, so it is refused as an invalid token.
 */
export const CONTROL_CHARACTERS = '\\p{Cc}\\p{Cs}\\u2028\\u2029';
const CONTROL = new RegExp(`[${CONTROL_CHARACTERS}]`, 'u');

/** Whether `text` holds a character of CONTROL_CHARACTERS. */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * The first of `names` (claim names or JSON pointers) whose value holds a control
 * character in any string it is or contains (arrays and objects are walked; object
 * member names count too), or undefined when every one is clean text.
 */
export function claimWithControlCharacter(claims: Readonly<JWTPayload>, names: Iterable<string>): string | undefined {
  for (const name of names) {
    const pending: unknown[] = [readClaim(claims, name)];
    while (pending.length > 0) {
      const value = pending.pop();
      if (typeof value === 'string') {
        if (hasControlCharacter(value)) return name;
      } else if (Array.isArray(value)) {
        pending.push(...value);
      } else if (value !== null && typeof value === 'object') {
        for (const [member, inner] of Object.entries(value)) {
          if (hasControlCharacter(member)) return name;
          pending.push(inner);
        }
      }
    }
  }
  return undefined;
}

const TEMPLATE = /\$\{claims\.([^}]+)\}/g;

/** Every claim a `${claims.NAME}` template anywhere inside `value` (a key's config) reads. */
export function templateClaimNames(value: unknown, names = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    for (const match of value.matchAll(TEMPLATE)) names.add(match[1]!);
  } else if (Array.isArray(value)) {
    for (const item of value) templateClaimNames(item, names);
  } else if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) templateClaimNames(inner, names);
  }
  return names;
}
