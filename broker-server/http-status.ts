import type { BrokerError, BrokerErrorCode } from '../broker-core';
import { MintFailed } from '../broker-core';

/** Every error code's HTTP status (DESIGN.md "HTTP API"); exhaustive by type. */
export const STATUS_BY_CODE: Readonly<Record<BrokerErrorCode, number>> = {
  ERR_REQUEST_INVALID: 400,
  ERR_DURATION_INVALID: 400,
  ERR_IDP_MISMATCH: 400,
  ERR_TOKEN_MISSING: 401,
  ERR_TOKEN_MALFORMED: 401,
  ERR_TOKEN_TOO_LARGE: 401,
  ERR_TOKEN_ISSUER_UNKNOWN: 401,
  ERR_TOKEN_ALG_NOT_ALLOWED: 401,
  ERR_TOKEN_KEY_NOT_FOUND: 401,
  ERR_TOKEN_SIGNATURE_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_NOT_YET_VALID: 401,
  ERR_TOKEN_AUDIENCE_MISMATCH: 401,
  ERR_TOKEN_CLAIM_INVALID: 401,
  ERR_TOKEN_TYPE_INVALID: 401,
  ERR_IDP_UNAVAILABLE: 503,
  ERR_IDP_TIMEOUT: 504,
  ERR_IDENTITY_NOT_MATCHED: 403,
  ERR_KEY_NOT_PERMITTED: 403,
  ERR_KEY_NOT_EXCHANGEABLE: 400,
  ERR_SCOPE_INVALID: 400,
  ERR_CLAIM_VALUE_INVALID: 403,
  ERR_POLICY_DENIED: 403,
  ERR_POLICY_UNAVAILABLE: 503,
  ERR_BROKER_AUTH_FAILED: 502,
  ERR_BROKER_AUTH_UNAVAILABLE: 503,
  ERR_BROKER_AUTH_TIMEOUT: 504,
  ERR_PROVIDER_REJECTED: 502,
  ERR_PROVIDER_BAD_RESPONSE: 502,
  ERR_PROVIDER_UNAVAILABLE: 503,
  ERR_PROVIDER_TIMEOUT: 504,
  ERR_MINT_FAILED: 502,
  ERR_AUDIT_UNAVAILABLE: 503,
  ERR_RATE_LIMITED: 429,
  ERR_SHUTTING_DOWN: 503,
  ERR_INTERNAL: 500,
};

export function statusOf(error: BrokerError): number {
  if (error instanceof MintFailed) return statusOf(error.primary);
  return STATUS_BY_CODE[error.code];
}

export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  requestId: string;
  keys?: Record<string, { error: string; code: string; message: string }>;
}

export function errorBody(error: BrokerError, requestId: string): ErrorBody {
  const body: ErrorBody = { error: error.reason, code: error.code, message: error.message, requestId };
  if (error instanceof MintFailed) {
    body.keys = Object.fromEntries([...error.failures].map(([key, failure]) => [key, { error: failure.reason, code: failure.code, message: failure.message }]));
  }
  return body;
}
