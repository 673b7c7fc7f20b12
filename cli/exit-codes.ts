import type { BrokerErrorCode } from '../broker-core/errors';

/**
 * The CLI's exit codes, one per class of failure a pipeline may want to tell apart
 * (docs/cli.md has the table). `Unavailable` is the only class worth retrying later.
 * `Invalid` belongs to the offline checks (config validate, audit verify): the file
 * was read and is wrong, which a pull-request check must tell apart from a bad command.
 */
export const ExitCode = {
  Ok: 0,
  Internal: 1,
  Usage: 2,
  Token: 3,
  Denied: 4,
  Provider: 5,
  Unavailable: 6,
  Invalid: 7,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The word that starts a human error message: `voidkey: denied (key_not_permitted): …`. */
export const EXIT_LABELS: Readonly<Record<ExitCode, string>> = {
  0: 'ok',
  1: 'internal error',
  2: 'usage',
  3: 'token',
  4: 'denied',
  5: 'provider failed',
  6: 'unavailable',
  7: 'invalid',
};

/**
 * Broker error code → exit code. Exhaustive on purpose: a code added to broker-core
 * does not compile here until it is given an exit code (the import is type-only, so
 * the bundle carries nothing from broker-core).
 */
export const EXIT_CODE_BY_BROKER_CODE: Readonly<Record<BrokerErrorCode, ExitCode>> = {
  ERR_REQUEST_INVALID: ExitCode.Usage,
  ERR_DURATION_INVALID: ExitCode.Usage,
  ERR_IDP_MISMATCH: ExitCode.Usage,
  ERR_TOKEN_MISSING: ExitCode.Token,
  ERR_TOKEN_MALFORMED: ExitCode.Token,
  ERR_TOKEN_TOO_LARGE: ExitCode.Token,
  ERR_TOKEN_ISSUER_UNKNOWN: ExitCode.Token,
  ERR_TOKEN_ALG_NOT_ALLOWED: ExitCode.Token,
  ERR_TOKEN_KEY_NOT_FOUND: ExitCode.Token,
  ERR_TOKEN_SIGNATURE_INVALID: ExitCode.Token,
  ERR_TOKEN_EXPIRED: ExitCode.Token,
  ERR_TOKEN_NOT_YET_VALID: ExitCode.Token,
  ERR_TOKEN_AUDIENCE_MISMATCH: ExitCode.Token,
  ERR_TOKEN_CLAIM_INVALID: ExitCode.Token,
  ERR_TOKEN_TYPE_INVALID: ExitCode.Token,
  ERR_IDP_UNAVAILABLE: ExitCode.Unavailable,
  ERR_IDP_TIMEOUT: ExitCode.Unavailable,
  ERR_IDENTITY_NOT_MATCHED: ExitCode.Denied,
  ERR_KEY_NOT_PERMITTED: ExitCode.Denied,
  ERR_KEY_NOT_EXCHANGEABLE: ExitCode.Usage,
  ERR_SCOPE_INVALID: ExitCode.Usage,
  ERR_CLAIM_VALUE_INVALID: ExitCode.Denied,
  ERR_POLICY_DENIED: ExitCode.Denied,
  ERR_POLICY_UNAVAILABLE: ExitCode.Unavailable,
  ERR_BROKER_AUTH_FAILED: ExitCode.Provider,
  ERR_BROKER_AUTH_UNAVAILABLE: ExitCode.Unavailable,
  ERR_BROKER_AUTH_TIMEOUT: ExitCode.Unavailable,
  ERR_PROVIDER_REJECTED: ExitCode.Provider,
  ERR_PROVIDER_BAD_RESPONSE: ExitCode.Provider,
  ERR_PROVIDER_UNAVAILABLE: ExitCode.Unavailable,
  ERR_PROVIDER_TIMEOUT: ExitCode.Provider,
  // Refined by status below: mint_failed carries the status of its first failure.
  ERR_MINT_FAILED: ExitCode.Provider,
  ERR_AUDIT_UNAVAILABLE: ExitCode.Unavailable,
  ERR_RATE_LIMITED: ExitCode.Unavailable,
  ERR_SHUTTING_DOWN: ExitCode.Unavailable,
  ERR_INTERNAL: ExitCode.Internal,
};

/** For a code this CLI does not know (a newer broker), the HTTP status decides. */
export function exitCodeForStatus(status: number): ExitCode {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 415:
      return ExitCode.Usage;
    case 401:
      return ExitCode.Token;
    case 403:
      return ExitCode.Denied;
    case 502:
    case 504:
      return ExitCode.Provider;
    case 429:
    case 503:
      return ExitCode.Unavailable;
    default:
      return ExitCode.Internal;
  }
}

export function exitCodeForBrokerError(code: string | undefined, status: number): ExitCode {
  // Several keys failed, the first because a cloud was unavailable: worth retrying later.
  if (code === 'ERR_MINT_FAILED' && (status === 503 || status === 429)) return ExitCode.Unavailable;
  if (code !== undefined && Object.hasOwn(EXIT_CODE_BY_BROKER_CODE, code)) {
    return EXIT_CODE_BY_BROKER_CODE[code as BrokerErrorCode];
  }
  return exitCodeForStatus(status);
}
