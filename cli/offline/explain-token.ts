import type { JWTPayload } from 'jose';
import type { BrokerConfig, ClaimValue, ClientIdpConfig } from '../../broker-core/config/types';
import { readClaim } from '../../broker-core/identity/claims';
import { compileGlob } from '../../broker-core/identity/glob';
import { IdentityMatcher, type CompiledIdentity } from '../../broker-core/identity/identity-matcher';
import type { PolicyInfo } from '../../broker-core/policy/cedar-policy-set';
import { CliError, TokenError, UsageError } from '../errors';
import { ExitCode } from '../exit-codes';

export interface ExplainInput {
  readonly config: BrokerConfig;
  /** Decoded, never verified. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** `--idp`: the IdP to explain against when the claims carry no `iss` (must agree when they do). */
  readonly idpName?: string;
  readonly now: number;
  /** The config's policy sets (ids, effects, the keys each names): which could affect each key. */
  readonly policies?: { readonly active?: readonly PolicyInfo[]; readonly observe?: readonly PolicyInfo[] };
}

export interface IdentityRef {
  readonly name: string;
  /** Its position in `clientIdentities`. */
  readonly index: number;
  /** `subject "…"` or `subjectPattern "…"`. */
  readonly by: string;
}

export interface ExplainedKey {
  readonly name: string;
  readonly provider: string;
  readonly identity: string;
  /** Matching identities that define the same key and lose (decision 4), with why. */
  readonly overrides: ReadonlyArray<{ readonly identity: string; readonly why: string }>;
  /** The forbid policies that could deny this key (those naming it, and those naming no key), per set. */
  readonly policies?: { readonly active: readonly string[]; readonly observe?: readonly string[] };
}

export interface Explanation {
  readonly idp: string;
  readonly issuer: string;
  /** How the IdP was chosen. */
  readonly chosenBy: 'iss' | '--idp' | 'default';
  readonly subject: string;
  readonly matched: readonly IdentityRef[];
  readonly keys: readonly ExplainedKey[];
  readonly unmatched: ReadonlyArray<IdentityRef & { readonly reasons: readonly string[] }>;
  /** Identities of other IdPs: never considered for this token. */
  readonly otherIdpIdentities: number;
  /** What the broker would refuse before matching, found in the claims alone. */
  readonly refusals: readonly string[];
}

/**
 * What the broker's identity matching makes of these claims, and for every identity of
 * the same IdP that does not match, why. The matching itself is broker-core's
 * IdentityMatcher, so the answer is the broker's; only the reasons are worked out here.
 */
export function explainToken(input: ExplainInput): Explanation {
  const { config, claims } = input;
  const { idp, chosenBy } = chooseIdp(config, claims, input.idpName);
  const subject = claims.sub;
  if (typeof subject !== 'string') {
    throw new TokenError(subject === undefined ? 'the claims have no sub (subject)' : 'the claims\' sub (subject) is not a string; the broker refuses such a token');
  }
  const matcher = new IdentityMatcher(config.clientIdentities);
  const result = matcher.match(idp.name, subject, claims as JWTPayload);
  const matched = new Set(result.identities);
  const keys: ExplainedKey[] = [...result.keys.values()].map((granted) => ({
    name: granted.name,
    provider: granted.key.provider,
    identity: granted.identity.name,
    overrides: result.identities
      .filter((other) => other !== granted.identity && other.keys.has(granted.name))
      .map((other) => ({
        identity: other.name,
        why: other.exact === granted.identity.exact ? 'comes later in the file' : 'an exact subject wins over a pattern',
      })),
    ...(input.policies ? { policies: affecting(input.policies, granted.name) } : {}),
  }));
  const ofIdp = matcher.identities.filter((identity) => identity.idp === idp.name);
  return {
    idp: idp.name,
    issuer: idp.issuer,
    chosenBy,
    subject,
    matched: result.identities.map(ref),
    keys,
    unmatched: ofIdp.filter((identity) => !matched.has(identity)).map((identity) => ({ ...ref(identity), reasons: mismatchReasons(identity, subject, claims) })),
    otherIdpIdentities: matcher.identities.length - ofIdp.length,
    refusals: tokenRefusals(idp, claims, input.now, config.settings.clockSkewSeconds),
  };
}

function chooseIdp(config: BrokerConfig, claims: Readonly<Record<string, unknown>>, idpName: string | undefined): { idp: ClientIdpConfig; chosenBy: Explanation['chosenBy'] } {
  const iss = claims.iss;
  if (iss !== undefined && typeof iss !== 'string') throw new TokenError('the claims\' iss is not a string');
  const byName = (name: string) => config.clientIdps.find((idp) => idp.name === name);
  if (idpName !== undefined) {
    const idp = byName(idpName);
    if (idp === undefined) throw new UsageError(`--idp ${idpName}: the config has no such IdP (it has ${config.clientIdps.map((i) => i.name).join(', ')})`);
    if (iss !== undefined && iss !== idp.issuer) {
      // What the broker answers: 400 idp_mismatch.
      throw new UsageError(`--idp ${idpName} expects issuer ${idp.issuer}, but the token's iss is ${iss}; the broker would refuse it (idp_mismatch)`);
    }
    return { idp, chosenBy: '--idp' };
  }
  if (iss === undefined) {
    const fallback = config.default === undefined ? undefined : byName(config.default);
    if (fallback === undefined) throw new UsageError('the claims have no iss: name the IdP with --idp');
    return { idp: fallback, chosenBy: 'default' };
  }
  // Decision 5: the exact issuer string picks the IdP.
  const idp = config.clientIdps.find((candidate) => candidate.issuer === iss);
  if (idp === undefined) {
    throw new CliError(ExitCode.Token, `no IdP in the config has the issuer ${iss}; the broker would refuse the token (issuer_unknown). Issuers: ${config.clientIdps.map((i) => i.issuer).join(', ')}`);
  }
  return { idp, chosenBy: 'iss' };
}

function ref(identity: CompiledIdentity): IdentityRef {
  const by = identity.exact ? `subject ${quote(identity.config.subject!)}` : `subjectPattern ${quote(identity.config.subjectPattern!)}`;
  return { name: identity.name, index: identity.index, by };
}

/** Every condition the identity puts on these claims that they fail, in config order. */
export function mismatchReasons(identity: CompiledIdentity, subject: string, claims: Readonly<Record<string, unknown>>): string[] {
  const reasons: string[] = [];
  if (identity.exact) {
    if (identity.config.subject !== subject) reasons.push(`subject ${quote(subject)} is not ${quote(identity.config.subject!)}`);
  } else if (!identity.subjectRegex!.test(subject)) {
    const pattern = identity.config.subjectPattern!;
    const acrossColons = pattern.includes('*') && compileGlob(pattern.replace(/\*+/g, '**')).test(subject);
    reasons.push(`subject ${quote(subject)} does not match subjectPattern ${quote(pattern)}${acrossColons ? ' (* does not match across ":"; ** does)' : ''}`);
  }
  for (const condition of identity.claims) {
    const actual = readClaim(claims as JWTPayload, condition.name);
    if (actual === undefined || actual === null || !condition.values.some((expected) => expected === actual)) {
      reasons.push(`claim ${condition.name}: expected ${expectedValues(condition.values)}, got ${describeValue(actual)}`);
    }
  }
  for (const condition of identity.claimPatterns) {
    const actual = readClaim(claims as JWTPayload, condition.name);
    const patterns = condition.patterns.map((pattern) => quote(globOf(pattern, identity, condition.name)));
    const wanted = patterns.length === 1 ? `a string matching ${patterns[0]}` : `a string matching one of ${patterns.join(', ')}`;
    if (typeof actual !== 'string' || !condition.patterns.some((pattern) => pattern.test(actual))) {
      reasons.push(`claim ${condition.name}: expected ${wanted}, got ${describeValue(actual)}`);
    }
  }
  // Unreachable while this mirrors the matcher; said plainly rather than hidden if not.
  if (reasons.length === 0) reasons.push('does not match');
  return reasons;
}

/** The glob as written in the config, for a compiled pattern. */
function globOf(pattern: RegExp, identity: CompiledIdentity, claim: string): string {
  const written = identity.config.claimPatterns?.[claim];
  const list = written === undefined ? [] : Array.isArray(written) ? written : [written];
  const index = identity.claimPatterns.find((condition) => condition.name === claim)?.patterns.indexOf(pattern) ?? -1;
  return list[index] ?? pattern.source;
}

function expectedValues(values: readonly ClaimValue[]): string {
  return values.length === 1 ? describeValue(values[0]) : `one of ${values.map(describeValue).join(', ')}`;
}

/** A value with its JSON type: decision 2 compares types strictly, so the type is the usual surprise. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the claim is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'object') return `an object (${truncate(JSON.stringify(value))})`;
  return `${truncate(JSON.stringify(value))} (${typeof value})`;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Refusals the broker makes before matching that the claims alone reveal. The signature is never checked here. */
function tokenRefusals(idp: ClientIdpConfig, claims: Readonly<Record<string, unknown>>, nowMs: number, skewSeconds: number): string[] {
  const now = nowMs / 1000;
  const refusals: string[] = [];
  if (idp.allowAnyAudience !== true && idp.audience !== undefined) {
    const accepted = Array.isArray(idp.audience) ? idp.audience : [idp.audience];
    const aud = claims.aud;
    const given = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((item): item is string => typeof item === 'string') : [];
    if (!given.some((item) => accepted.includes(item))) {
      refusals.push(`audience_mismatch: the token's aud ${aud === undefined ? '(none)' : JSON.stringify(aud)} is not one IdP ${idp.name} accepts (${accepted.join(', ')})`);
    }
  }
  // jose's clockTolerance, as the broker sets it.
  if (typeof claims.exp === 'number' && claims.exp + skewSeconds <= now) {
    refusals.push(`token_expired: the token expired ${Math.round(now - claims.exp)} s ago`);
  }
  if (typeof claims.nbf === 'number' && claims.nbf - skewSeconds > now) {
    refusals.push(`token_not_yet_valid: the token is valid only from ${new Date(claims.nbf * 1000).toISOString()}`);
  }
  return refusals;
}

function affecting(policies: NonNullable<ExplainInput['policies']>, key: string): { active: string[]; observe?: string[] } {
  const of = (set: readonly PolicyInfo[] | undefined) => (set ?? []).filter((p) => p.effect === 'forbid' && (p.anyKey || p.keys.includes(key))).map((p) => p.id);
  return { active: of(policies.active), ...(policies.observe ? { observe: of(policies.observe) } : {}) };
}
