/**
 * Every way a broker request can fail, one class per stable code.
 *
 * `code` is the machine contract (ERR_<AREA>_<CONDITION>); `reason` is the short
 * snake_case word a caller sees in `error` and that audit events and metrics use.
 * Messages are written for the caller: they never contain a token, a credential,
 * an upstream error body or anything about identities the caller did not match.
 * Detail for operators travels in `detail`, which only the audit event records.
 */
export const REASONS = {
  ERR_REQUEST_INVALID: 'request_invalid',
  ERR_DURATION_INVALID: 'duration_invalid',
  ERR_IDP_MISMATCH: 'idp_mismatch',
  ERR_TOKEN_MISSING: 'token_missing',
  ERR_TOKEN_MALFORMED: 'token_malformed',
  ERR_TOKEN_TOO_LARGE: 'token_too_large',
  ERR_TOKEN_ISSUER_UNKNOWN: 'issuer_unknown',
  ERR_TOKEN_ALG_NOT_ALLOWED: 'algorithm_not_allowed',
  ERR_TOKEN_KEY_NOT_FOUND: 'key_not_found',
  ERR_TOKEN_SIGNATURE_INVALID: 'signature_invalid',
  ERR_TOKEN_EXPIRED: 'token_expired',
  ERR_TOKEN_NOT_YET_VALID: 'token_not_yet_valid',
  ERR_TOKEN_AUDIENCE_MISMATCH: 'audience_mismatch',
  ERR_TOKEN_CLAIM_INVALID: 'token_claim_invalid',
  ERR_TOKEN_TYPE_INVALID: 'token_type_invalid',
  ERR_IDP_UNAVAILABLE: 'idp_unavailable',
  ERR_IDP_TIMEOUT: 'idp_timeout',
  ERR_IDENTITY_NOT_MATCHED: 'no_identity_matched',
  ERR_KEY_NOT_PERMITTED: 'key_not_permitted',
  ERR_KEY_NOT_EXCHANGEABLE: 'key_not_exchangeable',
  ERR_SCOPE_INVALID: 'scope_invalid',
  ERR_CLAIM_VALUE_INVALID: 'claim_value_invalid',
  ERR_POLICY_DENIED: 'policy_denied',
  ERR_POLICY_UNAVAILABLE: 'policy_unavailable',
  ERR_BROKER_AUTH_FAILED: 'broker_auth_failed',
  ERR_BROKER_AUTH_UNAVAILABLE: 'broker_auth_unavailable',
  ERR_BROKER_AUTH_TIMEOUT: 'broker_auth_timeout',
  ERR_PROVIDER_REJECTED: 'provider_rejected',
  ERR_PROVIDER_BAD_RESPONSE: 'provider_bad_response',
  ERR_PROVIDER_UNAVAILABLE: 'provider_unavailable',
  ERR_PROVIDER_TIMEOUT: 'provider_timeout',
  ERR_MINT_FAILED: 'mint_failed',
  ERR_AUDIT_UNAVAILABLE: 'audit_unavailable',
  ERR_RATE_LIMITED: 'rate_limited',
  ERR_SHUTTING_DOWN: 'shutting_down',
  ERR_INTERNAL: 'internal_error',
} as const;

export type BrokerErrorCode = keyof typeof REASONS;
export type BrokerErrorReason = (typeof REASONS)[BrokerErrorCode];

export interface BrokerErrorOptions {
  /** Operator-facing detail: goes to the audit event, never to the caller. */
  detail?: string;
  cause?: unknown;
  /** Seconds after which a retry may succeed (503). */
  retryAfterSeconds?: number;
}

export abstract class BrokerError extends Error {
  abstract readonly code: BrokerErrorCode;
  readonly detail?: string;
  readonly retryAfterSeconds?: number;

  constructor(message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get reason(): BrokerErrorReason {
    return REASONS[this.code];
  }
}

export class RequestInvalid extends BrokerError { readonly code = 'ERR_REQUEST_INVALID'; }
export class DurationInvalid extends BrokerError { readonly code = 'ERR_DURATION_INVALID'; }
export class IdpMismatch extends BrokerError { readonly code = 'ERR_IDP_MISMATCH'; }
export class TokenMissing extends BrokerError { readonly code = 'ERR_TOKEN_MISSING'; }
export class TokenMalformed extends BrokerError { readonly code = 'ERR_TOKEN_MALFORMED'; }
export class TokenTooLarge extends BrokerError { readonly code = 'ERR_TOKEN_TOO_LARGE'; }
export class TokenIssuerUnknown extends BrokerError { readonly code = 'ERR_TOKEN_ISSUER_UNKNOWN'; }
export class TokenAlgNotAllowed extends BrokerError { readonly code = 'ERR_TOKEN_ALG_NOT_ALLOWED'; }
export class TokenKeyNotFound extends BrokerError { readonly code = 'ERR_TOKEN_KEY_NOT_FOUND'; }
export class TokenSignatureInvalid extends BrokerError { readonly code = 'ERR_TOKEN_SIGNATURE_INVALID'; }
export class TokenExpired extends BrokerError { readonly code = 'ERR_TOKEN_EXPIRED'; }
export class TokenNotYetValid extends BrokerError { readonly code = 'ERR_TOKEN_NOT_YET_VALID'; }
export class TokenAudienceMismatch extends BrokerError { readonly code = 'ERR_TOKEN_AUDIENCE_MISMATCH'; }
export class TokenClaimInvalid extends BrokerError { readonly code = 'ERR_TOKEN_CLAIM_INVALID'; }
export class TokenTypeInvalid extends BrokerError { readonly code = 'ERR_TOKEN_TYPE_INVALID'; }
export class IdpUnavailable extends BrokerError { readonly code = 'ERR_IDP_UNAVAILABLE'; }
export class IdpTimeout extends BrokerError { readonly code = 'ERR_IDP_TIMEOUT'; }
export class IdentityNotMatched extends BrokerError { readonly code = 'ERR_IDENTITY_NOT_MATCHED'; }
export class KeyNotPermitted extends BrokerError { readonly code = 'ERR_KEY_NOT_PERMITTED'; }
/** Token exchange (`/oauth2/token`) of a key whose credential is not one token (AWS, MinIO): mint it at /credentials/mint. */
export class KeyNotExchangeable extends BrokerError { readonly code = 'ERR_KEY_NOT_EXCHANGEABLE'; }
/** Token exchange: a `scope` beyond the scopes the key's token carries. */
export class ScopeInvalid extends BrokerError { readonly code = 'ERR_SCOPE_INVALID'; }
export class ClaimValueInvalid extends BrokerError { readonly code = 'ERR_CLAIM_VALUE_INVALID'; }
export class PolicyDenied extends BrokerError { readonly code = 'ERR_POLICY_DENIED'; }
export class PolicyUnavailable extends BrokerError { readonly code = 'ERR_POLICY_UNAVAILABLE'; }
export class BrokerAuthFailed extends BrokerError { readonly code = 'ERR_BROKER_AUTH_FAILED'; }
export class BrokerAuthUnavailable extends BrokerError { readonly code = 'ERR_BROKER_AUTH_UNAVAILABLE'; }
export class BrokerAuthTimeout extends BrokerError { readonly code = 'ERR_BROKER_AUTH_TIMEOUT'; }
export class ProviderRejected extends BrokerError { readonly code = 'ERR_PROVIDER_REJECTED'; }
export class ProviderBadResponse extends BrokerError { readonly code = 'ERR_PROVIDER_BAD_RESPONSE'; }
export class ProviderUnavailable extends BrokerError { readonly code = 'ERR_PROVIDER_UNAVAILABLE'; }
export class ProviderTimeout extends BrokerError { readonly code = 'ERR_PROVIDER_TIMEOUT'; }
export class AuditUnavailable extends BrokerError { readonly code = 'ERR_AUDIT_UNAVAILABLE'; }
export class RateLimited extends BrokerError { readonly code = 'ERR_RATE_LIMITED'; }
export class ShuttingDown extends BrokerError { readonly code = 'ERR_SHUTTING_DOWN'; }
export class InternalError extends BrokerError { readonly code = 'ERR_INTERNAL'; }

/** Decision 3: one key failed, so the request delivers nothing; each key's outcome is named. */
export class MintFailed extends BrokerError {
  readonly code = 'ERR_MINT_FAILED';
  constructor(
    readonly failures: ReadonlyMap<string, BrokerError>,
    /** The error whose status the response takes: the first failure in request order. */
    readonly primary: BrokerError,
  ) {
    super(`${failures.size} of the requested keys could not be minted; no credentials were issued`, {
      detail: [...failures].map(([key, err]) => `${key}: ${err.code}${err.detail ? ` (${err.detail})` : ''}`).join('; '),
      retryAfterSeconds: primary.retryAfterSeconds,
    });
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}
