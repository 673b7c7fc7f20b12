/**
 * The claims of a JWT, decoded without verification, for diagnostics only (whoami,
 * --debug): they show which issuer and audience the broker will see. Never trusted.
 */
export function decodeUnverifiedClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `iss`, `aud`, `sub` and expiry on one line. */
export function describeClaims(claims: Record<string, unknown>, now: number = Date.now()): string {
  const parts: string[] = [];
  if (claims.iss !== undefined) parts.push(`iss=${String(claims.iss)}`);
  if (claims.aud !== undefined) parts.push(`aud=${Array.isArray(claims.aud) ? claims.aud.join(',') : String(claims.aud)}`);
  if (claims.sub !== undefined) parts.push(`sub=${String(claims.sub)}`);
  if (typeof claims.exp === 'number') {
    const seconds = Math.round(claims.exp - now / 1000);
    parts.push(seconds >= 0 ? `expires in ${seconds}s` : `expired ${-seconds}s ago`);
  }
  return parts.join(' ');
}
