import { hash } from 'node:crypto';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import type { Clock } from '../clock';
import type { BrokerSettings, ClientIdpConfig } from '../config/types';
import { checkServiceUrl, isHttpLoopbackUrl } from '../config/urls';
import {
  IdpMismatch,
  TokenAlgNotAllowed,
  TokenAudienceMismatch,
  TokenClaimInvalid,
  TokenExpired,
  TokenIssuerUnknown,
  TokenMalformed,
  TokenMissing,
  TokenNotYetValid,
  TokenSignatureInvalid,
  TokenTooLarge,
  TokenTypeInvalid,
} from '../errors';
import type { HttpClient } from '../http';
import { hasControlCharacter } from '../identity/claim-text';
import { jsonShape, MAX_JSON_DEPTH, type JsonShapeProblem } from './json-duplicates';
import { parseExactJson } from './exact-numbers';
import { decodeBase64url, signatureValid } from './jws';
import { KeySetCache, type KeySetObserver } from './key-set-cache';

export interface VerifiedToken {
  readonly idp: ClientIdpConfig;
  readonly subject: string;
  readonly claims: Readonly<JWTPayload>;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

export interface TokenVerifierDependencies {
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly observer?: KeySetObserver;
}

const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
const MAX_SUBJECT_LENGTH = 255;
const DEFAULT_MAX_LIFETIME_SECONDS = 24 * 3600;

/** SHA-256 of a token, hex: what logs and audit events may carry instead of the token. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex');
}

/**
 * Verifies client tokens. The issuer is read from the unverified token only to pick one
 * configured IdP; a stranger's token costs no network I/O. Signature before claims.
 */
export class TokenVerifier {
  private readonly byIssuer = new Map<string, { idp: ClientIdpConfig; keys: KeySetCache }>();

  constructor(
    idps: readonly ClientIdpConfig[],
    private readonly settings: BrokerSettings,
    private readonly deps: TokenVerifierDependencies,
  ) {
    for (const idp of idps) {
      const keys = new KeySetCache({
        idpName: idp.name,
        issuer: idp.issuer,
        jwksUri: idp.jwksUri,
        http: deps.http,
        clock: deps.clock,
        timeoutMs: settings.upstreamTimeoutMs,
        cacheMs: settings.jwksCacheSeconds * 1000,
        cooldownMs: settings.jwksRefetchCooldownSeconds * 1000,
        staleMs: (idp.staleKeysSeconds ?? 24 * 3600) * 1000,
        // A discovered jwks_uri may be plain http on loopback when the issuer itself is (it loaded with a warning).
        checkUrl: (url) => checkServiceUrl(url, settings.allowHttpLoopback || isHttpLoopbackUrl(idp.issuer)),
        observer: deps.observer,
      });
      this.byIssuer.set(idp.issuer, { idp, keys });
    }
  }

  /** Key sets by IdP name, for readiness checks. */
  keySets(): ReadonlyMap<string, KeySetCache> {
    return new Map([...this.byIssuer.values()].map(({ idp, keys }) => [idp.name, keys]));
  }

  async verify(token: string | undefined, idpName?: string): Promise<VerifiedToken> {
    if (token === undefined || token === '') throw new TokenMissing('no OIDC token was presented');
    if (token.length > this.settings.maxTokenBytes) {
      throw new TokenTooLarge(`the token is larger than ${this.settings.maxTokenBytes} bytes`);
    }
    const segments = compactSegments(token);
    const header = readHeader(segments[0]);
    const unverified = readPayload(segments[1]);
    if (typeof unverified.iss !== 'string') throw new TokenMalformed('the token has no issuer (iss)');
    const entry = this.byIssuer.get(unverified.iss);
    if (!entry) throw new TokenIssuerUnknown('the token\'s issuer is not trusted by this broker', { detail: `iss=${unverified.iss}` });
    if (idpName !== undefined && idpName !== entry.idp.name) {
      throw new IdpMismatch(`the token was issued by IdP '${entry.idp.name}', not '${idpName}'`);
    }
    const algorithms = entry.idp.algorithms ?? ['RS256'];
    if (!algorithms.includes(header.alg!)) {
      throw new TokenAlgNotAllowed(`the token's algorithm ${header.alg} is not allowed for IdP '${entry.idp.name}'`);
    }

    // Every candidate: a JWKS may publish several keys under one kid (a botched rotation).
    const keys = await entry.keys.keysFor(header);
    if (!keys.some((key) => signatureValid(token, header.alg!, key))) throw new TokenSignatureInvalid('the token signature is invalid');
    const payload = checkClaims(unverified, {
      issuer: entry.idp.issuer,
      audience: entry.idp.allowAnyAudience ? undefined : entry.idp.audience,
      now: Math.floor(this.deps.clock() / 1000),
      skew: this.settings.clockSkewSeconds,
    });
    const maxLifetime = entry.idp.maxTokenLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
    const lifetime = payload.exp - payload.iat;
    if (lifetime > maxLifetime + this.settings.clockSkewSeconds) {
      throw new TokenClaimInvalid(`the token lives longer than IdP '${entry.idp.name}' allows (${maxLifetime} s)`, { detail: `lifetime=${Math.round(lifetime)}s` });
    }
    return { idp: entry.idp, subject: payload.sub, claims: payload, expiresAt: payload.exp * 1000 };
  }
}

/** The three segments of a compact JWS, split once. */
function compactSegments(token: string): [string, string, string] {
  const parts = token.split('.');
  if (parts.length === 5) throw new TokenMalformed('encrypted tokens (JWE) are not accepted');
  if (parts.length !== 3) throw new TokenMalformed('the token is not a compact JWS (three base64url parts)');
  return parts as [string, string, string];
}

function readHeader(segment: string): ProtectedHeaderParameters {
  const { value, shape } = decodeJsonSegment(segment, 'the token header is not valid base64url JSON', (text) => JSON.parse(text));
  if (shape === 'duplicate_members') throw new TokenMalformed('the token header has duplicate member names');
  if (shape === 'too_deep') throw new TokenMalformed(`the token header nests deeper than ${MAX_JSON_DEPTH} levels`);
  const header = value as ProtectedHeaderParameters;
  if (typeof header.alg !== 'string') throw new TokenMalformed('the token header has no algorithm');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenMalformed('the token header\'s key id (kid) is not a string');
  checkTokenType(header.typ);
  if (header.crit !== undefined) throw new TokenMalformed('the token names critical header extensions this broker does not understand');
  if (header.alg === 'none' || header.alg.startsWith('HS')) {
    throw new TokenAlgNotAllowed(`tokens signed with ${header.alg} are never accepted`);
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) throw new TokenMalformed(`a key supplied by the token itself ('${name}' header) is never trusted`);
  }
  return header;
}

/**
 * RFC 8725 §3.11 explicit typing: a token that says it is something else (an access
 * token `at+jwt`, a logout token, a security event, any other `+jwt` kind) is not an
 * identity token, whatever its claims look like. No `typ` (Kubernetes, Okta), `JWT`
 * (GitHub, GitLab, Keycloak, Auth0, Entra) and `id_token+jwt` (explicitly typed ID
 * tokens) pass; media types compare case-insensitively, `application/` optional
 * (RFC 7515 §4.1.9).
 */
const ACCEPTED_TYPES = new Set(['jwt', 'id_token+jwt']);

function checkTokenType(typ: unknown): void {
  if (typ === undefined) return;
  if (typeof typ !== 'string') throw new TokenTypeInvalid('the token header\'s type (typ) is not a string');
  const type = typ.toLowerCase().replace(/^application\//, '');
  if (!ACCEPTED_TYPES.has(type)) {
    throw new TokenTypeInvalid('the token is not an identity token (its typ header names another kind of JWT)', { detail: `typ=${typ.slice(0, 64)}` });
  }
}

function readPayload(segment: string): JWTPayload {
  const { value, shape } = decodeJsonSegment(segment, 'the token payload is not a valid JWT claims set', parseExactJson);
  if (shape === 'duplicate_members') throw new TokenMalformed('the token payload has duplicate claim names');
  if (shape === 'too_deep') throw new TokenMalformed(`the token payload nests deeper than ${MAX_JSON_DEPTH} levels`);
  return value as JWTPayload;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Each segment is decoded once, here, and scanned once: the scan finds duplicate members,
 * nesting and numbers JSON.parse may round (so `parse` knows whether it needs a reviver),
 * and its problem is reported only for text that parses. Only a JSON object passes (what
 * jose's own decoders accept).
 */
function decodeJsonSegment(segment: string, problem: string, parse: (text: string, mayRound: boolean) => unknown): { value: object; shape: JsonShapeProblem | undefined } {
  let value: unknown;
  let shape;
  try {
    const bytes = decodeBase64url(segment);
    if (bytes === undefined) throw new TokenMalformed(problem);
    const text = UTF8.decode(bytes);
    shape = jsonShape(text);
    value = parse(text, shape.mayRound);
  } catch (err) {
    throw new TokenMalformed(problem, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenMalformed(problem);
  return { value, shape: shape.problem };
}

interface ClaimRules {
  readonly issuer: string;
  /** Any one of these; undefined: any audience (the IdP's `allowAnyAudience`). */
  readonly audience?: string | readonly string[];
  /** Seconds since the epoch, whole (as RFC 7519's NumericDate is compared). */
  readonly now: number;
  readonly skew: number;
}

type CheckedClaims = JWTPayload & { readonly sub: string; readonly exp: number; readonly iat: number };

/**
 * RFC 7519 §4.1 checks on a claims set whose signature has been verified, in jose's
 * order and with its comparisons (test/integration/jws-differential.test.ts): required
 * `iss`, `aud`, `sub`, `exp`, `iat` (every OIDC ID token and CI token carries it); `exp`
 * must lie ahead and `nbf`/`iat` not ahead, within the skew; NumericDates must be numbers.
 */
function checkClaims(claims: JWTPayload, rules: ClaimRules): CheckedClaims {
  for (const claim of ['iss', ...(rules.audience === undefined ? [] : ['aud']), 'sub', 'exp', 'iat']) {
    if (!Object.hasOwn(claims, claim)) {
      if (claim === 'aud') throw new TokenAudienceMismatch('the token has no audience (aud)');
      throw new TokenClaimInvalid(`the token's '${claim}' claim is missing`);
    }
  }
  if (claims.iss !== rules.issuer) throw new TokenClaimInvalid('the token\'s \'iss\' claim is not the IdP\'s issuer');
  if (rules.audience !== undefined && !audienceIncludes(claims.aud, rules.audience)) {
    throw new TokenAudienceMismatch('the token\'s audience is not accepted by this broker');
  }
  numericDate(claims, 'iat');
  if (numericDate(claims, 'nbf') > rules.now + rules.skew) throw new TokenNotYetValid('the token is not valid yet');
  if (numericDate(claims, 'exp') <= rules.now - rules.skew) throw new TokenExpired('the token has expired');
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > MAX_SUBJECT_LENGTH) {
    throw new TokenClaimInvalid(`the token's subject must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`);
  }
  if (hasControlCharacter(claims.sub)) throw new TokenClaimInvalid('the token\'s subject holds control characters');
  if ((claims.iat as number) > rules.now + rules.skew) throw new TokenNotYetValid('the token claims to be issued in the future');
  return claims as CheckedClaims;
}

/** A NumericDate claim's value; NaN when absent (every comparison with it is false). */
function numericDate(claims: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number {
  const value = claims[claim];
  if (value === undefined) return Number.NaN;
  if (typeof value !== 'number') throw new TokenClaimInvalid(`the token's '${claim}' claim must be a number`);
  return value;
}

function audienceIncludes(aud: unknown, audience: string | readonly string[]): boolean {
  const accepted: readonly unknown[] = typeof audience === 'string' ? [audience] : audience;
  return typeof aud === 'string' ? accepted.includes(aud) : Array.isArray(aud) && accepted.some((one) => aud.includes(one));
}
