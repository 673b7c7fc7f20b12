/**
 * The policy step of the mint recipe (verify → match → policy → mint → audit): YAML
 * identities grant keys, policies may only take them away. A decider answers for one
 * key of one request; the Cedar engine and the AuthZEN PDP client implement it.
 */

/** What a decision reads, and what the audit event records so it can be replayed. */
export interface PolicyPrincipal {
  readonly idp: string;
  readonly subject: string;
  readonly identities: readonly string[];
  /** The token's string claims (Cedar entity tags). */
  readonly tags: Readonly<Record<string, string>>;
}

export interface PolicyResource {
  readonly key: string;
  readonly provider: string;
  readonly providerType: string;
  readonly identity: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface PolicyContext {
  readonly durationSeconds: number;
  readonly keys: readonly string[];
  /** Absent when the client's address is unknown or not an IP address. */
  readonly sourceIp?: string;
  /** Seconds since the epoch. */
  readonly now: number;
  /** The hour (0-23) and ISO weekday (1 = Monday … 7 = Sunday) of `now` in UTC: Cedar has no division. */
  readonly utcHour: number;
  readonly utcWeekday: number;
}

export interface PolicyQuery {
  readonly principal: PolicyPrincipal;
  readonly resource: PolicyResource;
  readonly context: PolicyContext;
}

export interface PolicyVerdict {
  readonly decision: 'allow' | 'deny';
  /** The determining policy ids (Cedar's `reason`). */
  readonly policies: readonly string[];
  /** Policies that errored while evaluating (any error denies). */
  readonly errors: readonly string[];
}

export interface PolicyDecider {
  /** Shown in audit events and /readyz: the SHA-256 of the policy text, or the PDP's URL. */
  readonly version: string;
  decide(query: PolicyQuery): PolicyVerdict;
}
