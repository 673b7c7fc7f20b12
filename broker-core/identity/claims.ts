import type { JWTPayload } from 'jose';

/**
 * Reads a claim by name, or by JSON pointer (RFC 6901) when the name starts with `/`
 * (`/kubernetes.io/namespace`). Only own properties are read: `__proto__`,
 * `constructor` and friends are just absent claims.
 */
export function readClaim(claims: Readonly<JWTPayload>, name: string): unknown {
  if (!name.startsWith('/')) return Object.hasOwn(claims, name) ? claims[name] : undefined;
  let current: unknown = claims;
  for (const raw of name.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}
