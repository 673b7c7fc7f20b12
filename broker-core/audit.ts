import type { PolicyAudit } from './policy/policy-guard';

/** One event per request: allowed, denied or failed. Never a token, never a secret. */
export interface AuditEvent {
  readonly time: string;
  readonly requestId: string;
  readonly action: 'mint' | 'list-keys';
  readonly outcome: 'allowed' | 'denied' | 'failed';
  /** The error reason (snake case) when not allowed. */
  readonly reason?: string;
  readonly code?: string;
  readonly idp?: string;
  readonly subject?: string;
  /** The identities that matched; `keys[].identity` names the one used per key. */
  readonly identities?: readonly string[];
  readonly keysRequested: readonly string[];
  readonly keysGranted: readonly string[];
  readonly issued: readonly AuditedCredential[];
  /** Minted but not delivered (decision 3: another key failed). */
  readonly undelivered: readonly AuditedCredential[];
  /** Per key; `brokerTokenJti` when the key's provider was shown a token the broker signed. */
  readonly failures?: Readonly<Record<string, { reason: string; detail?: string; brokerTokenJti?: string }>>;
  /**
   * The policy step (docs/policy.md): each set's version and per-key verdict (determining
   * and errored policy ids), and the claims and context a replay needs.
   */
  readonly policy?: PolicyAudit;
  /** SHA-256 (hex) of the presented token. */
  readonly tokenSha256?: string;
  readonly client: { readonly address?: string; readonly userAgent?: string };
  /** Operator-facing detail of a denial or failure; never sent to the caller. */
  readonly detail?: string;
  readonly durationMs: number;
}

export interface AuditedCredential {
  readonly key: string;
  readonly identity: string;
  readonly provider: string;
  readonly type: string;
  readonly credentialId?: string;
  readonly expiresAt: string;
  readonly upstreamRequestId?: string;
  /** `tokenSource: self`: the `jti` of the token the broker signed for this mint (the cloud's logs show it). */
  readonly brokerTokenJti?: string;
}

/**
 * Takes one request's audit event. A sink that returns a promise holds the request's answer
 * until it settles (the server's group commit: the records of one event-loop turn are
 * written together, and no answer leaves before its record); a rejection (the trail cannot
 * be written and fails closed) becomes the request's error.
 */
export type AuditSink = (event: AuditEvent) => void | Promise<void>;
