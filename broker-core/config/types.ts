/** The validated, interpolated shape of `config.yaml` (see config/broker-config.schema.json). */

export interface BrokerSettings {
  /** Local/test setting: plain http is allowed for loopback hosts only when this is true. */
  allowHttpLoopback: boolean;
  upstreamTimeoutMs: number;
  clockSkewSeconds: number;
  maxTokenBytes: number;
  jwksCacheSeconds: number;
  jwksRefetchCooldownSeconds: number;
}

export const DEFAULT_SETTINGS: BrokerSettings = {
  allowHttpLoopback: false,
  upstreamTimeoutMs: 10_000,
  clockSkewSeconds: 30,
  maxTokenBytes: 16_384,
  jwksCacheSeconds: 600,
  jwksRefetchCooldownSeconds: 30,
};

export interface BrokerIdpConfig {
  name?: string;
  issuer?: string;
  audience?: string;
  audienceParam?: 'audience' | 'resource';
  clientId: string;
  clientSecret?: string;
  /** Read on every token request, so a rotated Kubernetes secret takes effect without a restart. */
  clientSecretFile?: string;
  clientAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** private_key_jwt: the PEM (PKCS#8) key that signs the client assertion; no shared secret exists. */
  privateKeyFile?: string;
  privateKeyAlg?: 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
  keyId?: string;
  tokenEndpoint: string;
  scope?: string;
  /** Voidkey's: the broker's own token must verify against this key set (with `algorithms`, default RS256). */
  jwksUri?: string;
  algorithms?: string[];
  /** Voidkey compatibility: `false` is not honoured (a warning says what to write instead). */
  validateAudience?: boolean;
}

/** The broker's own issuer (docs/issuer.md): it signs per-mint tokens and publishes their keys. */
export interface BrokerIdentityConfig {
  /** https (loopback http with settings.allowHttpLoopback): where discovery and the JWKS are served. */
  issuer: string;
  /** PEM private keys; the first signs, every one is published. */
  signingKeys: Array<{ file: string }>;
  tokenLifetimeSeconds: number;
}

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 300;

export interface ClientIdpConfig {
  name: string;
  issuer: string;
  audience?: string | string[];
  jwksUri?: string;
  algorithms?: string[];
  /** exp − iat may not exceed this (default 24 h): a long-lived token is a stolen token's best friend. */
  maxTokenLifetimeSeconds?: number;
  /** Accept any `aud`. Only for IdPs that mint tokens for this broker alone; start-up warns. */
  allowAnyAudience?: boolean;
  /** How long known keys keep verifying while the JWKS endpoint fails (default 24 h). */
  staleKeysSeconds?: number;
  description?: string;
  /** Voidkey compatibility: `false` beside an `audience` is not honoured (the audience is still checked). */
  validateAudience?: boolean;
}

export interface AccessProviderConfig {
  name: string;
  type: string;
  [field: string]: unknown;
}

export type OutputSpec = string | { value: string };

export interface KeyConfig {
  provider: string;
  /** Resource tags Cedar policies read (`resource.getTag("env")`). */
  tags?: Record<string, string>;
  duration?: number;
  maxDuration?: number;
  outputs: Record<string, OutputSpec>;
  [field: string]: unknown;
}

export type ClaimValue = string | number | boolean;

export interface ClientIdentityConfig {
  name?: string;
  subject?: string;
  subjectPattern?: string;
  idp: string;
  claims?: Record<string, ClaimValue | ClaimValue[]>;
  claimPatterns?: Record<string, string | string[]>;
  keys: Record<string, KeyConfig>;
}

/** How the process serves; read by broker-server only. */
export interface ServerConfig {
  audit?: { stdout?: boolean; file?: string; failClosed?: boolean; signingKeyFile?: string };
  rateLimit?: { requestsPerMinute: number; burst?: number; maxClients?: number };
  cors?: { origins: string[] };
  trustProxy?: boolean;
  /** Slow clients and idle connections; read at start-up (docs/operations.md, "Slow clients"). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxRequestsPerSocket?: number;
}

/** Policy guardrails (docs/policy.md): paths relative to the config file. */
export interface PolicyConfig {
  active?: string;
  observe?: string;
  pdp?: { url: string; timeoutMs?: number };
}

export interface BrokerConfig {
  settings: BrokerSettings;
  policy?: PolicyConfig;
  server?: ServerConfig;
  brokerIdp?: BrokerIdpConfig;
  brokerIdentity?: BrokerIdentityConfig;
  clientIdps: ClientIdpConfig[];
  accessProviders: AccessProviderConfig[];
  clientIdentities: ClientIdentityConfig[];
  default?: string;
}
