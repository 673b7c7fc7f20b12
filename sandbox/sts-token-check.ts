import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { remoteIssuerKeys } from './issuer-keys';

/** What the STS emulator trusts, like an IAM OIDC provider plus the role's trust policy. */
export interface StsTrust {
  readonly issuer: string;
  /** Default: discovered from `{issuer}/.well-known/openid-configuration`, as AWS does. */
  readonly jwksUri?: string;
  /** How long a fetched key set is trusted (default jose's 10 minutes). */
  readonly jwksCacheMaxAgeMs?: number;
  /** The client id(s) registered for the provider; the token's `aud` must contain one. */
  readonly audience: string | readonly string[];
  /** Default: the algorithms AWS accepts (RS256/384/512, ES256/384/512). */
  readonly algorithms?: readonly string[];
  /** The rest of the trust policy (conditions on `sub` and friends); false → AccessDenied. */
  readonly condition?: (claims: JWTPayload, params: Readonly<Partial<Record<string, string>>>) => boolean;
}

export type TokenFailure =
  | 'malformed'
  | 'unknown_issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'key_unavailable'
  | 'key_not_found'
  | 'signature'
  | 'claim';

export type TokenVerdict =
  | { readonly ok: true; readonly claims: JWTPayload; readonly audience?: string }
  | { readonly ok: false; readonly failure: TokenFailure; readonly message: string; readonly claims?: JWTPayload };

export type TokenChecker = (token: string) => Promise<TokenVerdict>;

const AWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];

/**
 * Verifies web identity tokens against `trust` with jose: the same checks a cloud STS
 * makes. Without `trust` only the shape and `exp` are checked, so any JWT is accepted.
 */
export function createTokenChecker(trust?: StsTrust): TokenChecker {
  if (trust === undefined) return (token) => Promise.resolve(checkUnverified(token));
  const trusted = trust;
  const keys = remoteIssuerKeys(trust.issuer, { jwksUri: trust.jwksUri, cacheMaxAgeMs: trust.jwksCacheMaxAgeMs });
  const audiences = typeof trust.audience === 'string' ? [trust.audience] : [...trust.audience];
  // A verified token stays valid until its exp: remembering the verdict keeps the emulator's
  // CPU out of benchmarks (the broker sends one cached token for many calls). Failures are
  // never remembered, and the cache is small.
  const accepted = new Map<string, TokenVerdict & { ok: true }>();
  return async (token) => {
    const known = accepted.get(token);
    if (known && typeof known.claims.exp === 'number' && known.claims.exp > Date.now() / 1000) return known;
    const verdict = await verify(token);
    if (verdict.ok) {
      if (accepted.size >= 64) accepted.clear();
      accepted.set(token, verdict);
    }
    return verdict;
  };

  async function verify(token: string): Promise<TokenVerdict> {
    const decoded = decode(token);
    if (!decoded.ok) return decoded;
    if (decoded.claims.iss !== trusted.issuer) {
      return { ok: false, failure: 'unknown_issuer', message: String(decoded.claims.iss ?? ''), claims: decoded.claims };
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: trusted.issuer,
        audience: audiences,
        algorithms: [...(trusted.algorithms ?? AWS_ALGORITHMS)],
      });
      const tokenAudiences = typeof payload.aud === 'string' ? [payload.aud] : payload.aud ?? [];
      return { ok: true, claims: payload, audience: tokenAudiences.find((aud) => audiences.includes(aud)) };
    } catch (error) {
      return { ok: false, ...classify(error), claims: decoded.claims };
    }
  }
}

function checkUnverified(token: string): TokenVerdict {
  const decoded = decode(token);
  if (!decoded.ok) return decoded;
  const { exp } = decoded.claims;
  if (typeof exp === 'number' && exp <= Date.now() / 1000) {
    return { ok: false, failure: 'expired', message: expiredMessage(exp), claims: decoded.claims };
  }
  const aud = decoded.claims.aud;
  return { ok: true, claims: decoded.claims, audience: typeof aud === 'string' ? aud : aud?.[0] };
}

function decode(token: string): { ok: true; claims: JWTPayload } | { ok: false; failure: 'malformed'; message: string } {
  try {
    return { ok: true, claims: decodeJwt(token) };
  } catch {
    return { ok: false, failure: 'malformed', message: 'the token is not a valid JWT' };
  }
}

function classify(error: unknown): { failure: TokenFailure; message: string } {
  if (error instanceof errors.JWTExpired) {
    return { failure: 'expired', message: expiredMessage(error.payload.exp) };
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return { failure: 'audience', message: error.message };
    if (error.claim === 'nbf' || error.claim === 'iat') return { failure: 'not_yet_valid', message: error.message };
    return { failure: 'claim', message: error.message };
  }
  if (error instanceof errors.JWKSNoMatchingKey) return { failure: 'key_not_found', message: error.message };
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JOSEAlgNotAllowed) {
    return { failure: 'signature', message: error.message };
  }
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return { failure: 'malformed', message: error.message };
  }
  // JWKS fetch failures: timeouts, refused connections, non-200 answers, bad bodies.
  return { failure: 'key_unavailable', message: error instanceof Error ? error.message : String(error) };
}

function expiredMessage(exp: unknown): string {
  return `Token expired: current date/time ${Math.floor(Date.now() / 1000)} must be before the expiration date/time ${String(exp)}`;
}
