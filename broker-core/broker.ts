import type { JWTPayload } from 'jose';
import type { AccessProvider, AccessProviderFactory, DurationBounds, MintContext, ProviderRegistry } from './access/access-provider';
import type { AuditedCredential, AuditEvent, AuditSink } from './audit';
import { BrokerTokenSource } from './broker-auth/broker-token-source';
import { checkBrokerToken, type BrokerTokenExpectations } from './broker-auth/check-broker-token';
import { BrokerTokenVerifier } from './broker-auth/verify-broker-token';
import type { Clock } from './clock';
import type { LoadedPolicies } from './config/load-policies';
import { BrokerIssuer, type SigningKey } from './issuer/broker-issuer';
import type { AccessProviderConfig, BrokerConfig, KeyConfig } from './config/types';
import {
  BrokerAuthFailed,
  BrokerError,
  DurationInvalid,
  IdentityNotMatched,
  InternalError,
  KeyNotExchangeable,
  KeyNotPermitted,
  ScopeInvalid,
  MintFailed,
  ProviderBadResponse,
  RequestInvalid,
  TokenClaimInvalid,
} from './errors';
import type { HttpClient } from './http';
import { claimWithControlCharacter } from './identity/claim-text';
import { IdentityMatcher, type GrantedKey, type MatchResult } from './identity/identity-matcher';
import { AuthzenPdp } from './policy/authzen-pdp';
import { claimTags, PolicyGuard, policySourceIp, type PolicyAudit, type PolicyObserver } from './policy/policy-guard';
import type { KeySetObserver } from './token/key-set-cache';
import { tokenHash, TokenVerifier, type VerifiedToken } from './token/token-verifier';

export interface ClientInfo {
  readonly address?: string;
  readonly userAgent?: string;
}

export interface MintRequest {
  readonly token: string | undefined;
  /** Exactly one of a non-empty `keys` and `all: true`: nothing is minted implicitly. */
  readonly keys?: readonly string[];
  readonly all?: boolean;
  readonly duration?: number;
  readonly idpName?: string;
  /**
   * Token exchange (`POST /oauth2/token`): every key must yield one token (its provider's
   * `exchangeToken` field among the key's outputs), checked after authorisation and before
   * any mint; `metadata.exchange` then names it.
   */
  readonly exchange?: boolean;
  /** Token exchange: the scopes asked for; each must be among the key's (the token carries the key's scopes). */
  readonly scopes?: readonly string[];
  /** Token exchange: the RFC 8693 `requested_token_type`; a key issuing another type is refused before any mint. */
  readonly requestedTokenType?: string;
  readonly requestId: string;
  readonly client: ClientInfo;
  /**
   * Filled in by the broker: how long the request waited on access providers (wall
   * time of the parallel provider phase, performance.now milliseconds), so that a server
   * can tell the broker's own time from the cloud's.
   */
  readonly timings?: RequestTimings;
}

export interface RequestTimings {
  upstreamMs: number;
}

export interface MintedKey {
  readonly credentials: Record<string, string>;
  readonly expiresAt: string;
  readonly metadata: {
    readonly provider: string;
    readonly type: string;
    readonly identity: string;
    readonly credentialId?: string;
    /** Env var name → the provider field it carries (lets the CLI build credential_process output). */
    readonly fields: Record<string, string>;
    /** Token exchange only: the output that is the token and its RFC 8693 type (never sent by /credentials/mint). */
    readonly exchange?: { readonly output: string; readonly tokenType: string; readonly scopes: readonly string[] };
  };
}

/** The flat map Voidkey's CLI parses: key name → credentials. */
export type MintResponse = Record<string, MintedKey>;

export interface KeyDescription {
  readonly name: string;
  readonly provider: string;
  readonly type: string;
  readonly identity: string;
  readonly outputs: readonly string[];
  readonly duration: DurationBounds;
}

export interface KeysResponse {
  readonly idp: string;
  readonly subject: string;
  readonly identities: readonly string[];
  readonly keys: readonly KeyDescription[];
}

export interface BrokerObserver extends KeySetObserver, PolicyObserver {
  requestCompleted?(action: 'mint' | 'list-keys', outcome: AuditEvent['outcome'], reason: string, seconds: number): void;
  providerCall?(provider: string, type: string, outcome: 'ok' | string, seconds: number): void;
  brokerTokenRequested?(outcome: 'ok' | 'error'): void;
}

export interface BrokerDependencies {
  readonly providers: ProviderRegistry;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly audit: AuditSink;
  readonly observer?: BrokerObserver;
  /** Reads secret files named in the config (brokerIdp.clientSecretFile, privateKeyFile). */
  readonly readFile?: (path: string) => string;
  /** The config's policy sets, parsed at load (LoadedConfig.policies); required when it has `policy.active`. */
  readonly policies?: LoadedPolicies;
  /** brokerIdentity.signingKeys, loaded and checked by the server (in config order: the first signs). */
  readonly signingKeys?: readonly SigningKey[];
}

interface ProviderEntry {
  readonly config: AccessProviderConfig;
  readonly factory: AccessProviderFactory;
  readonly instance: AccessProvider;
}

interface Plan {
  readonly granted: GrantedKey;
  readonly provider: ProviderEntry;
  readonly durationSeconds: number;
}

const DENIALS = new Set<string>([
  'ERR_REQUEST_INVALID', 'ERR_DURATION_INVALID', 'ERR_IDP_MISMATCH', 'ERR_TOKEN_MISSING', 'ERR_TOKEN_MALFORMED',
  'ERR_TOKEN_TOO_LARGE', 'ERR_TOKEN_ISSUER_UNKNOWN', 'ERR_TOKEN_ALG_NOT_ALLOWED', 'ERR_TOKEN_KEY_NOT_FOUND',
  'ERR_TOKEN_SIGNATURE_INVALID', 'ERR_TOKEN_EXPIRED', 'ERR_TOKEN_NOT_YET_VALID', 'ERR_TOKEN_AUDIENCE_MISMATCH',
  'ERR_TOKEN_CLAIM_INVALID', 'ERR_TOKEN_TYPE_INVALID', 'ERR_IDENTITY_NOT_MATCHED', 'ERR_KEY_NOT_PERMITTED', 'ERR_CLAIM_VALUE_INVALID', 'ERR_POLICY_DENIED',
  'ERR_KEY_NOT_EXCHANGEABLE', 'ERR_SCOPE_INVALID',
]);

/**
 * The request path of DESIGN.md: verify, match, authorise every key, resolve
 * durations, mint in parallel, deliver all or nothing, audit once.
 */
export class Broker {
  readonly verifier: TokenVerifier;
  readonly matcher: IdentityMatcher;
  private readonly providers = new Map<string, ProviderEntry>();
  private readonly brokerTokens?: BrokerTokenSource;
  /** The broker's own issuer (`brokerIdentity`): per-mint tokens, discovery and JWKS. */
  readonly issuer?: BrokerIssuer;
  /** By JWKS URL: Voidkey's brokerIdp.jwksUri, or a provider's brokerAuth.jwksUri. */
  private readonly brokerTokenVerifiers = new Map<string, BrokerTokenVerifier>();
  /** Every key name the config defines: a request for more distinct keys cannot be granted. */
  private readonly keyNames: ReadonlySet<string>;
  /** The policy step; absent without a `policy:` section (no cost on the mint path then). */
  readonly policy?: PolicyGuard;

  constructor(
    readonly config: BrokerConfig,
    private readonly deps: BrokerDependencies,
  ) {
    this.verifier = new TokenVerifier(config.clientIdps, config.settings, { http: deps.http, clock: deps.clock, observer: deps.observer });
    this.matcher = new IdentityMatcher(config.clientIdentities);
    this.keyNames = new Set(config.clientIdentities.flatMap((identity) => Object.keys(identity.keys)));
    for (const providerConfig of config.accessProviders) {
      const factory = deps.providers.get(providerConfig.type);
      if (!factory) throw new Error(`no access provider implements type '${providerConfig.type}'`);
      const instance = factory.create(providerConfig, { settings: config.settings, http: deps.http });
      this.providers.set(providerConfig.name, { config: providerConfig, factory, instance });
    }
    if (config.policy) {
      // Fail closed: a config that names an active set never runs without it.
      if (config.policy.active !== undefined && !deps.policies?.active) throw new Error('policy.active is configured but its policy set was not loaded');
      this.policy = new PolicyGuard({
        active: deps.policies?.active,
        observe: deps.policies?.observe,
        observeProblem: deps.policies?.observeProblem,
        pdp: config.policy.pdp ? new AuthzenPdp(config.policy.pdp, deps.http) : undefined,
        observer: deps.observer,
      });
    }
    if (config.brokerIdp) {
      this.brokerTokens = new BrokerTokenSource({
        idp: config.brokerIdp,
        http: deps.http,
        clock: deps.clock,
        timeoutMs: config.settings.upstreamTimeoutMs,
        readFile: deps.readFile,
        observer: { tokenRequested: (outcome) => deps.observer?.brokerTokenRequested?.(outcome) },
      });
    }
    if (config.brokerIdentity) {
      if (!deps.signingKeys || deps.signingKeys.length === 0) throw new Error('brokerIdentity is configured but no signing keys were loaded');
      this.issuer = new BrokerIssuer(config.brokerIdentity, deps.signingKeys, deps.clock);
    }
  }

  private brokerTokenVerifier(brokerAuth: { jwksUri?: string } | undefined): BrokerTokenVerifier | undefined {
    const jwksUri = brokerAuth?.jwksUri ?? this.config.brokerIdp?.jwksUri;
    if (jwksUri === undefined) return undefined;
    let verifier = this.brokerTokenVerifiers.get(jwksUri);
    if (!verifier) {
      verifier = new BrokerTokenVerifier({
        jwksUri,
        issuer: this.config.brokerIdp?.issuer,
        algorithms: this.config.brokerIdp?.algorithms ?? ['RS256'],
        settings: this.config.settings,
        http: this.deps.http,
        clock: this.deps.clock,
      });
      this.brokerTokenVerifiers.set(jwksUri, verifier);
    }
    return verifier;
  }

  idpProviders(): Array<{ name: string; isDefault: boolean }> {
    return this.config.clientIdps.map((idp) => ({ name: idp.name, isDefault: idp.name === this.config.default }));
  }

  async mint(request: MintRequest): Promise<MintResponse> {
    const started = this.deps.clock();
    const trail = new Trail(request, 'mint');
    try {
      checkRequestShape(request);
      const verified = await this.verify(request, trail);
      const match = this.authorise(verified);
      trail.matched(match);
      const plans = this.plan(match, request, trail);
      if (this.policy) {
        const { denied, audit } = await this.checkPolicy(this.policy, plans, verified, match, request, trail);
        if (denied.length > 0) throw PolicyGuard.denial(denied, audit);
      }
      const response = await this.mintAll(plans, verified, request, trail);
      await this.finish(trail, started, 'allowed');
      return response;
    } catch (err) {
      const error = asBrokerError(err);
      // A failed-closed audit write already decided the answer: credentials stay undelivered.
      if (error.code !== 'ERR_AUDIT_UNAVAILABLE') await this.finish(trail, started, DENIALS.has(error.code) ? 'denied' : 'failed', error);
      throw error;
    }
  }

  async listKeys(request: Omit<MintRequest, 'keys' | 'all' | 'duration'>): Promise<KeysResponse> {
    const started = this.deps.clock();
    const trail = new Trail(request, 'list-keys');
    try {
      const verified = await this.verify(request, trail);
      // A token no identity matches is refused here as it is by mint (403, audited as denied).
      const match = this.authorise(verified);
      trail.matched(match);
      let grants = [...match.keys.values()];
      if (this.policy) {
        // The keys the policies allow: each as it would be minted with its default duration.
        const items = grants.map((granted) => {
          const provider = this.providers.get(granted.key.provider)!;
          return { granted, provider, durationSeconds: boundsFor(provider, granted.key).default };
        });
        const { denied } = await this.checkPolicy(this.policy, items, verified, match, request, trail);
        const hidden = new Set(denied);
        grants = grants.filter((granted) => !hidden.has(granted.name));
        trail.listed(grants.map((granted) => granted.name));
      }
      const keys = grants.map((granted) => {
        const provider = this.providers.get(granted.key.provider)!;
        return {
          name: granted.name,
          provider: provider.config.name,
          type: provider.config.type,
          identity: granted.identity.name,
          outputs: Object.keys(granted.key.outputs),
          duration: boundsFor(provider, granted.key),
        };
      });
      await this.finish(trail, started, 'allowed');
      return { idp: verified.idp.name, subject: verified.subject, identities: match.identities.map((i) => i.name), keys };
    } catch (err) {
      const error = asBrokerError(err);
      await this.finish(trail, started, DENIALS.has(error.code) ? 'denied' : 'failed', error);
      throw error;
    }
  }

  /** The policy step: every key of the request, decided before any is minted; recorded on the trail. */
  private async checkPolicy(
    guard: PolicyGuard,
    items: ReadonlyArray<Pick<Plan, 'granted' | 'provider' | 'durationSeconds'>>,
    verified: VerifiedToken,
    match: MatchResult,
    request: Pick<MintRequest, 'client'>,
    trail: Trail,
  ): Promise<{ denied: readonly string[]; audit: PolicyAudit }> {
    const sourceIp = policySourceIp(request.client.address);
    const outcome = await guard.check(
      { idp: verified.idp.name, subject: verified.subject, identities: match.identities.map((identity) => identity.name), tags: claimTags(verified.claims) },
      { keys: items.map((item) => item.granted.name), ...(sourceIp === undefined ? {} : { sourceIp }), ...timeContext(this.deps.clock()) },
      items.map((item) => ({
        resource: {
          key: item.granted.name,
          provider: item.provider.config.name,
          providerType: item.provider.config.type,
          identity: item.granted.identity.name,
          tags: item.granted.key.tags ?? {},
        },
        durationSeconds: item.durationSeconds,
      })),
    );
    trail.policy = outcome.audit;
    if (outcome.error) throw outcome.error;
    return outcome;
  }

  /**
   * Steps 1-2, then the claims identities match on: a control character in any of them
   * makes the token invalid (401) before any identity is tried, never a 403 or a match.
   */
  private async verify(request: Pick<MintRequest, 'token' | 'idpName'>, trail: Trail): Promise<VerifiedToken> {
    const verified = await this.verifier.verify(request.token, request.idpName);
    trail.verified(verified);
    const unclean = claimWithControlCharacter(verified.claims, this.matcher.claimsUsedBy(verified.idp.name));
    if (unclean !== undefined) {
      throw new TokenClaimInvalid('a claim this broker matches on holds control characters', { detail: `claim ${unclean} holds control characters` });
    }
    return verified;
  }

  private authorise(verified: VerifiedToken): MatchResult {
    const match = this.matcher.match(verified.idp.name, verified.subject, verified.claims);
    if (match.identities.length === 0) {
      throw new IdentityNotMatched('no configured identity matches this token', {
        detail: `idp=${verified.idp.name} sub=${verified.subject}`,
      });
    }
    return match;
  }

  /** Step 4: every requested key is authorised and its duration resolved before any call. */
  private plan(match: MatchResult, request: MintRequest, trail: Trail): Plan[] {
    const names = request.all === true ? [...match.keys.keys()] : [...new Set(request.keys)];
    trail.requested(names);
    // After the token is verified, so that a stranger learns nothing of the config's size.
    if (names.length > this.keyNames.size) {
      throw new RequestInvalid('more distinct keys are requested than this broker defines', { detail: `${names.length} requested, ${this.keyNames.size} defined` });
    }
    const missing = names.filter((name) => !match.keys.has(name));
    if (missing.length > 0) {
      throw new KeyNotPermitted(`this token may not mint ${missing.map((name) => `'${name}'`).join(', ')}`, {
        detail: `not granted to the matched identities: ${missing.join(', ')}`,
      });
    }
    if (names.length === 0) throw new KeyNotPermitted('the matched identities grant no keys');
    if (request.duration !== undefined && (!Number.isSafeInteger(request.duration) || request.duration <= 0)) {
      throw new DurationInvalid("'duration' must be a positive whole number of seconds");
    }
    return names.map((name) => {
      const granted = match.keys.get(name)!;
      const provider = this.providers.get(granted.key.provider)!;
      const bounds = boundsFor(provider, granted.key);
      const durationSeconds = request.duration ?? bounds.default;
      if (durationSeconds < bounds.min || durationSeconds > bounds.max) {
        throw new DurationInvalid(`key '${name}' accepts a duration between ${bounds.min} and ${bounds.max} seconds`);
      }
      if (request.exchange === true) exchangeOutput(name, provider, granted.key, request.scopes, request.requestedTokenType);
      return { granted, provider, durationSeconds };
    });
  }

  private async mintAll(plans: readonly Plan[], verified: VerifiedToken, request: MintRequest, trail: Trail): Promise<MintResponse> {
    // Retries fit inside the request's budget and stop once the caller's token is no longer
    // accepted (exp + skew); one whole attempt is always allowed, since a token accepted
    // within the clock skew is a valid token, not one whose deadline has already passed.
    const now = this.deps.clock();
    const budget = this.config.settings.upstreamTimeoutMs;
    const tokenAcceptedUntil = verified.expiresAt + this.config.settings.clockSkewSeconds * 1000;
    const deadline = now + Math.min(budget * 3, Math.max(budget, tokenAcceptedUntil - now));
    // A timer cleared with the request: AbortSignal.timeout's would outlive it by the whole budget.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('the request deadline passed')), Math.max(1, deadline - now));
    let settled;
    const upstreamFrom = performance.now();
    try {
      settled = await Promise.allSettled(plans.map((plan) => this.mintOne(plan, verified, request, abort.signal, deadline)));
    } finally {
      clearTimeout(timer);
      if (request.timings) request.timings.upstreamMs += performance.now() - upstreamFrom;
    }
    const failures = new Map<string, BrokerError>();
    const minted: Array<{ plan: Plan; key: MintedKey; audited: AuditedCredential }> = [];
    settled.forEach((outcome, index) => {
      const plan = plans[index]!;
      if (outcome.status === 'fulfilled') minted.push({ plan, ...outcome.value });
      else failures.set(plan.granted.name, asBrokerError(outcome.reason));
    });
    if (failures.size > 0) {
      trail.undelivered.push(...minted.map((m) => m.audited));
      trail.failures = failures;
      const primary = failures.values().next().value!;
      // One key requested: its own error says it best. Several: each key's reason (decision 3).
      throw plans.length === 1 ? primary : new MintFailed(failures, primary);
    }
    const response: MintResponse = {};
    for (const { plan, key, audited } of minted) {
      response[plan.granted.name] = key;
      trail.issued.push(audited);
    }
    return response;
  }

  private async mintOne(plan: Plan, verified: VerifiedToken, request: MintRequest, signal: AbortSignal, deadline: number): Promise<{ key: MintedKey; audited: AuditedCredential }> {
    const { granted, provider } = plan;
    let brokerTokenJti: string | undefined;
    const context: MintContext = {
      keyName: granted.name,
      key: granted.key,
      durationSeconds: plan.durationSeconds,
      subject: verified.subject,
      idp: verified.idp.name,
      claims: verified.claims,
      requestId: request.requestId,
      signal,
      deadline,
      brokerToken: async (audience, claims, options) => {
        const brokerAuth = provider.config.brokerAuth as (BrokerTokenExpectations & { jwksUri?: string; tokenSource?: string }) | undefined;
        if (brokerAuth?.tokenSource === 'self' || provider.factory.selfIssued === true) {
          if (!this.issuer) throw new BrokerAuthFailed('this broker has no brokerIdentity to sign its own token with');
          const signed = await this.issuer.sign({
            audience: audience ?? provider.factory.selfAudience?.(provider.config) ?? '',
            keyName: granted.name,
            actor: { iss: String(verified.claims.iss), sub: verified.subject },
            claims,
            ...(options?.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: options.lifetimeSeconds }),
          });
          brokerTokenJti = signed.jti;
          checkBrokerToken(signed.token, brokerAuth);
          return signed.token;
        }
        if (!this.brokerTokens) throw new BrokerAuthFailed('this broker has no brokerIdp to authenticate itself with');
        const token = await this.brokerTokens.token(audience);
        // Voidkey's jwksUri: the token verifies against the broker IdP's keys before its claims are read.
        await this.brokerTokenVerifier(brokerAuth)?.verify(token);
        // Voidkey's brokerAuth.expectedIssuer / expectedAudience, for every provider alike.
        checkBrokerToken(token, brokerAuth);
        return token;
      },
    };
    const started = this.deps.clock();
    let credential;
    try {
      credential = await provider.instance.mint(context);
      this.deps.observer?.providerCall?.(provider.config.name, provider.config.type, 'ok', (this.deps.clock() - started) / 1000);
    } catch (err) {
      const error = asBrokerError(err);
      this.deps.observer?.providerCall?.(provider.config.name, provider.config.type, error.reason, (this.deps.clock() - started) / 1000);
      // The cloud may have logged the token it refused: its jti joins the two logs.
      if (brokerTokenJti !== undefined) failedTokenJtis.set(error, brokerTokenJti);
      throw error;
    }
    const credentials: Record<string, string> = {};
    const fields: Record<string, string> = {};
    for (const [envName, spec] of Object.entries(granted.key.outputs)) {
      if (typeof spec === 'string') {
        const value = Object.hasOwn(credential.fields, spec) ? credential.fields[spec] : undefined;
        if (value === undefined) {
          throw new ProviderBadResponse(`the provider's answer for key '${granted.name}' lacks a field the key outputs`, { detail: `missing field ${spec}` });
        }
        credentials[envName] = value;
        fields[envName] = spec;
      } else {
        credentials[envName] = spec.value;
      }
    }
    const expiresAt = credential.expiresAt.toISOString();
    return {
      key: {
        credentials,
        expiresAt,
        metadata: {
          provider: provider.config.name,
          type: provider.config.type,
          identity: granted.identity.name,
          ...(credential.credentialId === undefined ? {} : { credentialId: credential.credentialId }),
          fields,
          ...(request.exchange === true ? { exchange: exchangeOutput(granted.name, provider, granted.key) } : {}),
        },
      },
      audited: {
        key: granted.name,
        identity: granted.identity.name,
        provider: provider.config.name,
        type: provider.config.type,
        credentialId: credential.credentialId,
        expiresAt,
        upstreamRequestId: credential.upstreamRequestId,
        ...(brokerTokenJti === undefined ? {} : { brokerTokenJti }),
      },
    };
  }

  /** Audits the request (the answer waits for a sink that returns a promise) and counts it. */
  private async finish(trail: Trail, started: number, outcome: AuditEvent['outcome'], error?: BrokerError): Promise<void> {
    const durationMs = this.deps.clock() - started;
    const pending = this.deps.audit(trail.event(new Date(this.deps.clock()).toISOString(), outcome, durationMs, error));
    if (pending !== undefined) await pending;
    this.deps.observer?.requestCompleted?.(trail.action, outcome, error?.reason ?? 'ok', durationMs / 1000);
  }
}

/** What a request must say, checked before the token is looked at: which keys, explicitly. */
function checkRequestShape(request: MintRequest): void {
  if (request.all === true && request.keys !== undefined) throw new RequestInvalid("send either 'keys' or 'all', not both");
  if (request.all !== true && request.keys === undefined) {
    throw new RequestInvalid("name the keys to mint in 'keys', or set 'all': true; nothing is minted implicitly");
  }
  if (request.all !== true && request.keys!.length === 0) {
    throw new RequestInvalid("'keys' is empty: name at least one key, or set 'all': true");
  }
}

/** The key's output that carries its provider's exchange token, or the refusal that sends the caller to /credentials/mint. */
function exchangeOutput(name: string, provider: ProviderEntry, key: KeyConfig, requested?: readonly string[], requestedType?: string): { output: string; tokenType: string; scopes: readonly string[] } {
  const spec = provider.factory.exchangeToken;
  const output = spec && Object.entries(key.outputs).find(([, value]) => value === spec.field)?.[0];
  if (!spec || output === undefined) {
    throw new KeyNotExchangeable(`key '${name}' is not a single token; mint it at /credentials/mint`, {
      detail: spec ? `the key outputs no ${spec.field}` : `provider type ${provider.config.type} issues no single token`,
    });
  }
  if (requestedType !== undefined && requestedType !== spec.tokenType) {
    throw new RequestInvalid(`key '${name}' issues ${spec.tokenType}, not the requested_token_type`);
  }
  const scopes = spec.scopes?.(key) ?? [];
  const beyond = (requested ?? []).filter((scope) => !scopes.includes(scope));
  if (beyond.length > 0) {
    throw new ScopeInvalid(`key '${name}' does not carry the requested scope`, { detail: `not among the key's scopes: ${beyond.join(' ')}` });
  }
  return { output, tokenType: spec.tokenType, scopes };
}

function timeContext(ms: number): { now: number; utcHour: number; utcWeekday: number } {
  const date = new Date(ms);
  return { now: Math.floor(ms / 1000), utcHour: date.getUTCHours(), utcWeekday: date.getUTCDay() === 0 ? 7 : date.getUTCDay() };
}

function boundsFor(provider: ProviderEntry, key: KeyConfig): DurationBounds {
  const bounds = provider.factory.durationBounds(provider.config, key);
  const fallback = typeof provider.config.defaultDuration === 'number' ? provider.config.defaultDuration : bounds.default;
  const max = Math.min(bounds.max, key.maxDuration ?? Math.max(bounds.defaultMax ?? bounds.max, key.duration ?? 0, fallback));
  return { min: bounds.min, max, default: Math.min(max, Math.max(bounds.min, key.duration ?? fallback)) };
}

function asBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new InternalError('the broker failed unexpectedly', { cause: err, detail: err instanceof Error ? err.name : typeof err });
}

/** `tokenSource: self`: the jti of the token a failed mint presented, for the audit event. */
const failedTokenJtis = new WeakMap<BrokerError, string>();

/** Collects what one request did, for its single audit event. */
class Trail {
  private idp?: string;
  private subject?: string;
  private identities?: string[];
  private granted: readonly string[] = [];
  private keysRequested: readonly string[];
  readonly issued: AuditedCredential[] = [];
  readonly undelivered: AuditedCredential[] = [];
  failures?: ReadonlyMap<string, BrokerError>;
  policy?: PolicyAudit;
  private readonly tokenSha256?: string;

  constructor(
    private readonly request: Omit<MintRequest, 'all' | 'duration'> & { keys?: readonly string[] },
    readonly action: AuditEvent['action'],
  ) {
    this.keysRequested = request.keys ?? [];
    this.tokenSha256 = request.token ? tokenHash(request.token) : undefined;
  }

  verified(token: { idp: { name: string }; subject: string; claims: Readonly<JWTPayload> }): void {
    this.idp = token.idp.name;
    this.subject = token.subject;
  }

  matched(match: MatchResult): void {
    this.identities = match.identities.map((identity) => identity.name);
    this.granted = [...match.keys.keys()];
  }

  /** list-keys with policies: the keys shown are those the policies allow. */
  listed(names: readonly string[]): void {
    this.granted = names;
  }

  requested(names: readonly string[]): void {
    this.keysRequested = names;
  }

  event(time: string, outcome: AuditEvent['outcome'], durationMs: number, error?: BrokerError): AuditEvent {
    const failures = this.failures
      ? Object.fromEntries([...this.failures].map(([key, err]) => {
        const jti = failedTokenJtis.get(err);
        return [key, { reason: err.reason, ...(err.detail ? { detail: err.detail } : {}), ...(jti === undefined ? {} : { brokerTokenJti: jti }) }];
      }))
      : undefined;
    return {
      time,
      requestId: this.request.requestId,
      action: this.action,
      outcome,
      ...(error ? { reason: error.reason, code: error.code } : {}),
      ...(this.idp ? { idp: this.idp, subject: this.subject } : {}),
      ...(this.identities ? { identities: this.identities } : {}),
      keysRequested: this.keysRequested,
      keysGranted: outcome !== 'allowed' ? [] : this.action === 'list-keys' ? this.granted : this.issued.map((c) => c.key),
      issued: this.issued,
      undelivered: this.undelivered,
      ...(failures ? { failures } : {}),
      ...(this.policy ? { policy: this.policy } : {}),
      ...(this.tokenSha256 ? { tokenSha256: this.tokenSha256 } : {}),
      client: this.request.client,
      ...(error?.detail ? { detail: error.detail } : {}),
      durationMs,
    };
  }
}
