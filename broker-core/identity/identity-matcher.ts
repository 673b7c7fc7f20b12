import type { JWTPayload } from 'jose';
import type { ClaimValue, ClientIdentityConfig, KeyConfig } from '../config/types';
import { templateClaimNames } from './claim-text';
import { readClaim } from './claims';
import { compileGlob } from './glob';

/** One configured identity, compiled once at load. */
export interface CompiledIdentity {
  /** The identity's `name`, or a stable one derived from its position and subject. */
  readonly name: string;
  readonly index: number;
  readonly idp: string;
  readonly exact: boolean;
  readonly config: ClientIdentityConfig;
  readonly subjectRegex?: RegExp;
  readonly claims: ReadonlyArray<{ readonly name: string; readonly values: readonly ClaimValue[] }>;
  readonly claimPatterns: ReadonlyArray<{ readonly name: string; readonly patterns: readonly RegExp[] }>;
  /** Key lookups go through a Map: a key called `__proto__` is just an unknown key. */
  readonly keys: ReadonlyMap<string, KeyConfig>;
}

export interface GrantedKey {
  readonly name: string;
  readonly key: KeyConfig;
  readonly identity: CompiledIdentity;
}

export interface MatchResult {
  /** Identities that match, exact-subject ones first, then in file order. */
  readonly identities: readonly CompiledIdentity[];
  /** Decision 4: the union of their keys; exact beats pattern, then file order. */
  readonly keys: ReadonlyMap<string, GrantedKey>;
}

export function identityName(identity: ClientIdentityConfig, index: number): string {
  return identity.name ?? `clientIdentities[${index}]`;
}

export function compileIdentity(config: ClientIdentityConfig, index: number): CompiledIdentity {
  const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
  return {
    name: identityName(config, index),
    index,
    idp: config.idp,
    exact: config.subject !== undefined,
    config,
    subjectRegex: config.subjectPattern === undefined ? undefined : compileGlob(config.subjectPattern),
    claims: Object.entries(config.claims ?? {}).map(([name, value]) => ({ name, values: asList(value) })),
    claimPatterns: Object.entries(config.claimPatterns ?? {}).map(([name, value]) => ({ name, patterns: asList(value).map(compileGlob) })),
    keys: new Map(Object.entries(config.keys)),
  };
}

/** Decision 2: strict types; a missing or null claim never matches, nor a number that is not a safe integer; a list means any of. */
export function claimConditionsHold(identity: CompiledIdentity, claims: Readonly<JWTPayload>): boolean {
  for (const condition of identity.claims) {
    const actual = readClaim(claims, condition.name);
    if (actual === undefined || actual === null) return false;
    // JSON.parse rounds a number beyond 2^53 (or a fraction) to the nearest double: such a
    // claim never matches, so 9007199254740993 cannot pass for 9007199254740992.
    if (typeof actual === 'number' && !Number.isSafeInteger(actual)) return false;
    if (!condition.values.some((expected) => expected === actual)) return false;
  }
  for (const condition of identity.claimPatterns) {
    const actual = readClaim(claims, condition.name);
    if (typeof actual !== 'string') return false;
    if (!condition.patterns.some((pattern) => pattern.test(actual))) return false;
  }
  return true;
}

/**
 * Identities indexed by (IdP, subject): exact subjects are a Map lookup, patterns are
 * tried in file order. Never keyed by subject alone.
 */
export class IdentityMatcher {
  private readonly exactByIdp = new Map<string, Map<string, CompiledIdentity[]>>();
  private readonly patternsByIdp = new Map<string, CompiledIdentity[]>();
  private readonly claimsByIdp = new Map<string, Set<string>>();
  readonly identities: readonly CompiledIdentity[];

  constructor(identities: readonly ClientIdentityConfig[]) {
    this.identities = identities.map(compileIdentity);
    for (const identity of this.identities) {
      const names = this.claimsByIdp.get(identity.idp) ?? new Set<string>();
      for (const condition of [...identity.claims, ...identity.claimPatterns]) names.add(condition.name);
      templateClaimNames(identity.config.keys, names);
      this.claimsByIdp.set(identity.idp, names);
      if (identity.exact) {
        const bySubject = this.exactByIdp.get(identity.idp) ?? new Map<string, CompiledIdentity[]>();
        const list = bySubject.get(identity.config.subject!) ?? [];
        list.push(identity);
        bySubject.set(identity.config.subject!, list);
        this.exactByIdp.set(identity.idp, bySubject);
      } else {
        const list = this.patternsByIdp.get(identity.idp) ?? [];
        list.push(identity);
        this.patternsByIdp.set(identity.idp, list);
      }
    }
  }

  /**
   * The claims (names or JSON pointers) any identity of this IdP matches on or renders
   * into a key's `${claims.NAME}` template; with `sub`, what must be clean text.
   */
  claimsUsedBy(idp: string): ReadonlySet<string> {
    return this.claimsByIdp.get(idp) ?? new Set();
  }

  match(idp: string, subject: string, claims: Readonly<JWTPayload>): MatchResult {
    const exact = (this.exactByIdp.get(idp)?.get(subject) ?? []).filter((identity) => claimConditionsHold(identity, claims));
    const patterns = (this.patternsByIdp.get(idp) ?? []).filter(
      (identity) => identity.subjectRegex!.test(subject) && claimConditionsHold(identity, claims),
    );
    const identities = [...exact, ...patterns];
    const keys = new Map<string, GrantedKey>();
    for (const identity of identities) {
      for (const [name, key] of identity.keys) {
        if (!keys.has(name)) keys.set(name, { name, key, identity });
      }
    }
    return { identities, keys };
  }
}
