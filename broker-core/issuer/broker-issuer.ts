import { SignJWT, type JWK } from 'jose';
import type { Clock } from '../clock';
import type { BrokerIdentityConfig } from '../config/types';

/** What `SignJWT.sign` takes: a node:crypto KeyObject or a WebCrypto CryptoKey. */
export type PrivateSigningKey = Parameters<SignJWT['sign']>[0];

/** One loaded signing key (broker-server reads and checks the PEM; the core does no I/O). */
export interface SigningKey {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: PrivateSigningKey;
  /** The public part only, with `kid`, `alg` and `use` set. */
  readonly publicJwk: JWK;
}

/** The per-mint facts a self-issued token carries. */
export interface SelfTokenRequest {
  readonly audience: string;
  readonly keyName: string;
  /** The caller, as RFC 8693 `act`. */
  readonly actor: { readonly iss: string; readonly sub: string };
  /** Extra claims the provider asks for (AWS source identity and tags). Registered claims cannot be overridden. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Seconds (a `broker-jwt` key's duration, at most 3600); default `tokenLifetimeSeconds`. */
  readonly lifetimeSeconds?: number;
}

export interface SelfToken {
  readonly token: string;
  readonly jti: string;
  readonly kid: string;
  readonly expiresAt: number;
}

const REGISTERED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'act']);

/**
 * The broker's own OIDC issuer: signs one short-lived token per mint with the first
 * signing key, and describes itself (discovery document, JWKS with every key published).
 */
export class BrokerIssuer {
  readonly issuer: string;

  constructor(
    private readonly config: BrokerIdentityConfig,
    private readonly keys: readonly SigningKey[],
    private readonly clock: Clock,
  ) {
    if (keys.length === 0) throw new Error('brokerIdentity needs at least one signing key');
    this.issuer = config.issuer;
  }

  /** `sub` = `voidkey:key:<KEY>`: stable, so a cloud-side trust policy pins a role to one broker key. */
  async sign(request: SelfTokenRequest): Promise<SelfToken> {
    const key = this.keys[0]!;
    const now = Math.floor(this.clock() / 1000);
    const exp = now + Math.min(3600, request.lifetimeSeconds ?? this.config.tokenLifetimeSeconds);
    const jti = crypto.randomUUID();
    const extra = Object.fromEntries(Object.entries(request.claims ?? {}).filter(([name]) => !REGISTERED.has(name)));
    const token = await new SignJWT({ ...extra, act: { iss: request.actor.iss, sub: request.actor.sub } })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(subjectFor(request.keyName))
      .setAudience(request.audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key.privateKey);
    return { token, jti, kid: key.kid, expiresAt: exp * 1000 };
  }

  /** OpenID Connect Discovery 1.0: what a cloud reads before the JWKS. */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [...new Set(this.keys.map((key) => key.alg))],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'act', 'https://aws.amazon.com/source_identity', 'https://aws.amazon.com/tags'],
    };
  }

  /** Every key, public parts only: the signing one and the ones published for rotation. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => ({ ...key.publicJwk })) };
  }
}

export function subjectFor(keyName: string): string {
  return `voidkey:key:${keyName}`;
}
