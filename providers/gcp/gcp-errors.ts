import { isBrokerError, ProviderBadResponse, ProviderRejected, ProviderTimeout, ProviderUnavailable, type BrokerError } from '../../broker-core';

/** The two calls of a GCP mint: the STS token exchange, then IAM Credentials' generateAccessToken. */
export type GcpLeg = 'sts' | 'iam';

/** Node's certificate verification failures: not transient, so not "unavailable". */
const TLS_TRUST_FAILURE = /^(?:UNABLE_TO_\w+|CERT_\w+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)$/;

const LEG_NAME: Record<GcpLeg, string> = { sts: 'GCP STS', iam: 'GCP IAM Credentials' };

/** What google-auth-library's errors carry: gaxios keeps the response on the error (and copies it onto OAuth errors). */
interface HttpFailure {
  readonly response?: { readonly status?: unknown; readonly data?: unknown; readonly headers?: unknown };
  readonly code?: unknown;
  readonly name?: unknown;
  readonly config?: unknown;
}

/**
 * Maps a failure of one leg to a broker error. The upstream's own words never reach the
 * message; `detail` keeps a short, sanitised code (`invalid_grant`, `PERMISSION_DENIED`)
 * for the audit event. The SDK error is not kept as `cause`: gaxios errors carry the
 * request, bearer token and subject token included.
 */
export function gcpError(leg: GcpLeg, err: unknown, timedOut: boolean): BrokerError {
  if (isBrokerError(err)) return err;
  const name = LEG_NAME[leg];
  if (timedOut) return new ProviderTimeout(`${name} did not answer in time`, { detail: `${leg}: timeout` });
  const failure = (typeof err === 'object' && err !== null ? err : {}) as HttpFailure;
  const status = typeof failure.response?.status === 'number' ? failure.response.status : undefined;
  if (status !== undefined) {
    const code = leg === 'sts' ? stsErrorCode(failure.response?.data) : googleErrorStatus(failure.response?.data);
    const detail = `${leg}: HTTP ${status}${code ? ` ${code}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      return new ProviderUnavailable(`${name} is unavailable; try again later`, { detail, retryAfterSeconds: retryAfter(failure.response?.headers) });
    }
    if (status >= 400) {
      const message = leg === 'sts' ? "GCP STS rejected the broker's token exchange" : "GCP IAM Credentials refused a token for the key's service account";
      return new ProviderRejected(message, { detail });
    }
    return new ProviderBadResponse(`${name} answered with an unusable response`, { detail });
  }
  if (failure.config !== undefined) {
    // A gaxios error without a response: the request never got an answer.
    const code = sanitize(failure.code);
    if (code !== undefined && TLS_TRUST_FAILURE.test(code)) {
      return new ProviderBadResponse(`${name}'s TLS certificate is not trusted`, { detail: `${leg}: tls ${code}` });
    }
    return new ProviderUnavailable(`${name} could not be reached; try again later`, { detail: `${leg}: network ${sanitize(failure.code) ?? 'error'}` });
  }
  return new ProviderBadResponse(`${name} answered with an unusable response`, { detail: `${leg}: ${sanitize(failure.name) ?? 'unreadable answer'}` });
}

/** STS answers RFC 6749 errors: `{"error": "invalid_grant", "error_description": …}`. */
function stsErrorCode(data: unknown): string | undefined {
  return isRecord(data) ? sanitize(data.error) : undefined;
}

/** Google APIs answer `{"error": {"code": 403, "message": …, "status": "PERMISSION_DENIED"}}`. */
function googleErrorStatus(data: unknown): string | undefined {
  return isRecord(data) && isRecord(data.error) ? sanitize(data.error.status) : undefined;
}

function retryAfter(headers: unknown): number | undefined {
  const value = typeof (headers as { get?: unknown } | undefined)?.get === 'function' ? (headers as Headers).get('retry-after') : undefined;
  if (!value) return undefined;
  const seconds = /^\d{1,6}$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

function sanitize(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(value) ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
