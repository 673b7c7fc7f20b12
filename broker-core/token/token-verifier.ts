import { createHash } from 'node:crypto';
import { base64url, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Clock } from '../clock';
import type { BrokerSettings, ClientIdpConfig } from '../config/types';
import { checkServiceUrl } from '../config/urls';
import type {
  BrokerError} from '../errors';
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
} from '../errors';
import type { HttpClient } from '../http';
import { hasDuplicateMembers } from './json-duplicates';
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
  return createHash('sha256').update(token).digest('hex');
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
        checkUrl: (url) => checkServiceUrl(url, settings.allowHttpLoopback),
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
    const header = readHeader(token);
    const unverified = readPayload(token);
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

    const key = await entry.keys.keyFor(header);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        issuer: entry.idp.issuer,
        audience: entry.idp.allowAnyAudience ? undefined : entry.idp.audience,
        algorithms,
        clockTolerance: this.settings.clockSkewSeconds,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(this.deps.clock()),
      }));
    } catch (err) {
      throw translateJoseError(err);
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > MAX_SUBJECT_LENGTH) {
      throw new TokenClaimInvalid(`the token's subject must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`);
    }
    const now = this.deps.clock() / 1000;
    const skew = this.settings.clockSkewSeconds;
    if (payload.iat !== undefined && payload.iat > now + skew) throw new TokenNotYetValid('the token claims to be issued in the future');
    const maxLifetime = entry.idp.maxTokenLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
    const lifetime = payload.exp! - (payload.iat ?? now);
    if (lifetime > maxLifetime + skew) {
      throw new TokenClaimInvalid(`the token lives longer than IdP '${entry.idp.name}' allows (${maxLifetime} s)`, { detail: `lifetime=${Math.round(lifetime)}s` });
    }
    return { idp: entry.idp, subject: payload.sub, claims: payload, expiresAt: payload.exp! * 1000 };
  }
}

function readHeader(token: string): ProtectedHeaderParameters {
  const parts = token.split('.');
  if (parts.length === 5) throw new TokenMalformed('encrypted tokens (JWE) are not accepted');
  if (parts.length !== 3) throw new TokenMalformed('the token is not a compact JWS (three base64url parts)');
  const { text, value } = decodeJsonSegment(parts[0]!, 'the token header is not valid base64url JSON');
  if (hasDuplicateMembers(text)) throw new TokenMalformed('the token header has duplicate member names');
  const header = value as ProtectedHeaderParameters;
  if (typeof header.alg !== 'string') throw new TokenMalformed('the token header has no algorithm');
  if (header.crit !== undefined) throw new TokenMalformed('the token names critical header extensions this broker does not understand');
  if (header.alg === 'none' || header.alg.startsWith('HS')) {
    throw new TokenAlgNotAllowed(`tokens signed with ${header.alg} are never accepted`);
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) throw new TokenMalformed(`a key supplied by the token itself ('${name}' header) is never trusted`);
  }
  return header;
}

function readPayload(token: string): JWTPayload {
  const { text, value } = decodeJsonSegment(token.split('.')[1]!, 'the token payload is not a valid JWT claims set');
  if (hasDuplicateMembers(text)) throw new TokenMalformed('the token payload has duplicate claim names');
  return value as JWTPayload;
}

/**
 * Each segment is decoded once, here: the duplicate-member check and the parse read the
 * same text. Only a JSON object passes (what jose's own decoders accept).
 */
function decodeJsonSegment(segment: string, problem: string): { text: string; value: object } {
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(segment));
    value = JSON.parse(text);
  } catch (err) {
    throw new TokenMalformed(problem, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenMalformed(problem);
  return { text, value };
}

function translateJoseError(err: unknown): BrokerError {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new TokenExpired('the token has expired');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new TokenSignatureInvalid('the token signature is invalid');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new TokenAlgNotAllowed('the token\'s algorithm is not allowed');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return new TokenAudienceMismatch('the token\'s audience is not accepted by this broker');
      if (claim === 'nbf' || claim === 'iat') return new TokenNotYetValid('the token is not valid yet');
      return new TokenClaimInvalid(`the token's '${claim}' claim is missing or invalid`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new TokenMalformed('the token is malformed', { cause: err });
    default:
      return new TokenSignatureInvalid('the token could not be verified', { cause: err });
  }
}
