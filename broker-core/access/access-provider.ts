import type { JWTPayload } from 'jose';
import type { AccessProviderConfig, BrokerSettings, KeyConfig } from '../config/types';
import type { HttpClient } from '../http';

/** Everything a provider may know about one key being minted for one verified caller. */
export interface MintContext {
  readonly keyName: string;
  readonly key: KeyConfig;
  /** Seconds, already resolved and checked against the provider's and key's bounds. */
  readonly durationSeconds: number;
  readonly subject: string;
  readonly idp: string;
  readonly claims: Readonly<JWTPayload>;
  readonly requestId: string;
  /** Aborted when the request's deadline passes or the client token expires. */
  readonly signal: AbortSignal;
  /** Milliseconds since the epoch: no call or retry may start after this (request deadline, client token `exp`). */
  readonly deadline: number;
  /**
   * The broker's own token for the given audience: its IdP's (cached, single-flight) or,
   * with `brokerAuth.tokenSource: self`, one signed for this mint by the broker's own
   * issuer, carrying `claims` too (e.g. AWS's source_identity and tags). A provider never
   * asks which: an IdP token cannot carry per-mint claims, and the config refuses keys
   * that need them there.
   */
  brokerToken(audience?: string, claims?: Readonly<Record<string, unknown>>, options?: { readonly lifetimeSeconds?: number }): Promise<string>;
}

export interface MintedCredential {
  /** Provider field name (e.g. `AccessKeyId`) → value. Keys' `outputs` pick from these. */
  readonly fields: Readonly<Record<string, string>>;
  readonly expiresAt: Date;
  /** A non-secret id of the credential for audit (e.g. the AccessKeyId). */
  readonly credentialId?: string;
  /** The upstream's request id, for audit and support cases. */
  readonly upstreamRequestId?: string;
}

export interface AccessProvider {
  readonly name: string;
  readonly type: string;
  mint(context: MintContext): Promise<MintedCredential>;
}

export interface DurationBounds {
  readonly min: number;
  readonly max: number;
  readonly default: number;
  /**
   * The most a request may ask for when the key sets no `maxDuration` (raised to the key's
   * `duration` or the provider's `defaultDuration` when the config asks for more). Without
   * it, `max`. A caller never gets a cloud's maximum the config did not ask for.
   */
  readonly defaultMax?: number;
}

export interface ProviderDependencies {
  readonly settings: BrokerSettings;
  readonly http: HttpClient;
}

/**
 * What a provider folder exports. The registry is keyed by `type`, the config's
 * `type:`; adding a provider changes no core code.
 */
export interface AccessProviderFactory<C extends AccessProviderConfig = AccessProviderConfig> {
  readonly type: string;
  /** JSON Schema for the provider's entry in `accessProviders` (name and type included). */
  readonly providerSchema: object;
  /** JSON Schema for a key using this provider (provider, duration, maxDuration and outputs included). */
  readonly keySchema: object;
  /** The fields `mint` returns, which a key's `outputs` may name. */
  readonly outputFields: readonly string[];
  /** Config fields whose values are secret: never logged, never echoed in errors. */
  readonly secretFields: readonly string[];
  /**
   * Token exchange (`POST /oauth2/token`): the output field that is the whole credential and
   * its RFC 8693 token type. Absent for credentials that are not one token (AWS, MinIO).
   */
  readonly exchangeToken?: {
    readonly field: string;
    readonly tokenType: string;
    /** The scopes the key's token carries: a `scope` the caller asks for must be among them. */
    scopes?(key: KeyConfig): readonly string[];
  };
  durationBounds(provider: C, key: KeyConfig): DurationBounds;
  /** The broker's own issuer always signs this provider's token (`brokerAuth.tokenSource: self` implied; the config needs `brokerIdentity`). */
  readonly selfIssued?: boolean;
  /** Whether minting presents the broker's own token (then the config needs `brokerIdp` or `brokerIdentity`). Default: true. */
  usesBrokerToken?(provider: C): boolean;
  /** `tokenSource: self`: the audience when the provider asks for none (AWS: sts.amazonaws.com); none means the config must name one. */
  selfAudience?(provider: C): string | undefined;
  /** Cross-field checks a schema cannot express, over the provider's entry and every key that uses it. */
  check?(provider: C, providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[];
  /** Valid settings the provider cannot honour as written: warnings that say what happens instead. */
  lint?(provider: C, providerPath: (string | number)[], keys: ReadonlyArray<{ path: (string | number)[]; key: KeyConfig }>): ConfigProblem[];
  create(provider: C, deps: ProviderDependencies): AccessProvider;
}

export interface ConfigProblem {
  /** Path from the config root, e.g. ['clientIdentities', 0, 'keys', 'AWS', 'duration']. */
  readonly path: (string | number)[];
  readonly message: string;
  /** Warnings only: a stable, bounded code (metrics label it; never a config value). */
  readonly code?: ConfigWarningCode;
}

/** Every code a config warning may carry: `voidkey_config_warnings{code}` is labelled by these. */
export const CONFIG_WARNING_CODES = [
  'http_loopback',
  'inline_secret',
  'validate_audience_ignored',
  'algorithms_unused',
  'minio_role_name',
  'minio_policy_name',
  'any_audience',
  'foreign_audience',
  'broad_pattern',
  'unpinned_repository',
  'policy_permit_no_effect',
  'policy_warning',
  'policy_observe_invalid',
] as const;
export type ConfigWarningCode = (typeof CONFIG_WARNING_CODES)[number];

export type ProviderRegistry = ReadonlyMap<string, AccessProviderFactory>;

export function createProviderRegistry(factories: Iterable<AccessProviderFactory>): ProviderRegistry {
  const registry = new Map<string, AccessProviderFactory>();
  for (const factory of factories) {
    if (registry.has(factory.type)) throw new Error(`two access providers claim the type '${factory.type}'`);
    registry.set(factory.type, factory);
  }
  return registry;
}
