import { isBrokerError, ProviderBadResponse, ProviderRejected, ProviderTimeout, ProviderUnavailable, type BrokerError } from '../../broker-core';

/**
 * `@aws-sdk/client-sts` names a modelled error after its class, which for some codes adds
 * `Exception` to what the wire says: the wire code is what the broker reports, whichever
 * client made the call.
 */
const SDK_CLASS_TO_CODE: Readonly<Record<string, string>> = {
  InvalidIdentityTokenException: 'InvalidIdentityToken',
  IDPRejectedClaimException: 'IDPRejectedClaim',
  IDPCommunicationErrorException: 'IDPCommunicationError',
  MalformedPolicyDocumentException: 'MalformedPolicyDocument',
  PackedPolicyTooLargeException: 'PackedPolicyTooLarge',
};

const REJECTIONS = new Set([
  'InvalidIdentityToken', 'InvalidIdentityTokenException', 'ExpiredTokenException', 'ExpiredToken', 'IDPRejectedClaim',
  'IDPRejectedClaimException', 'AccessDenied', 'AccessDeniedException', 'MalformedPolicyDocument',
  'MalformedPolicyDocumentException', 'PackedPolicyTooLarge', 'PackedPolicyTooLargeException', 'ValidationError',
  'RegionDisabledException', 'InvalidParameterValue', 'InvalidAction',
]);
const TRANSIENT = new Set(['IDPCommunicationError', 'IDPCommunicationErrorException', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ServiceUnavailable', 'InternalFailure']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * Maps what the SDK threw to the broker's taxonomy. The upstream message and body never
 * travel: only a sanitised error code goes to the audit detail.
 */
export function translateStsError(err: unknown, flavor: string): BrokerError {
  if (isBrokerError(err)) return err;
  const error = err as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const raw = typeof error?.name === 'string' && /^[A-Za-z.]{1,64}$/.test(error.name) ? error.name : 'Unknown';
  const name = SDK_CLASS_TO_CODE[raw] ?? raw;
  const status = error?.$metadata?.httpStatusCode;
  const requestId = typeof error?.$metadata?.requestId === 'string' && /^[\w-]{1,64}$/.test(error.$metadata.requestId) ? error.$metadata.requestId : undefined;
  const detail = `${flavor}: ${name}${status ? ` (${status})` : ''}${requestId ? ` request ${requestId}` : ''}`;
  if (name === 'TimeoutError' || name === 'AbortError' || error?.code === 'ETIMEDOUT') {
    return new ProviderTimeout(`${flavor} did not answer in time`, { detail });
  }
  if (REJECTIONS.has(name)) return new ProviderRejected(`${flavor} refused to issue credentials (${name})`, { detail });
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500)) {
    return new ProviderUnavailable(`${flavor} is unavailable`, { detail, retryAfterSeconds: 5 });
  }
  if (typeof error?.code === 'string' && NETWORK_CODES.has(error.code)) {
    return new ProviderUnavailable(`${flavor} could not be reached`, { detail: `${flavor}: ${error.code}`, retryAfterSeconds: 5 });
  }
  if (status !== undefined && status >= 400) return new ProviderRejected(`${flavor} refused to issue credentials`, { detail });
  return new ProviderBadResponse(`${flavor} answered with something that is not an STS response`, { detail });
}
