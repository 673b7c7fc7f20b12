import { isBrokerError, ProviderBadResponse, ProviderRejected, ProviderTimeout, ProviderUnavailable, type BrokerError } from '../../broker-core';

/** Node's certificate verification failures (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, …). */
const TLS_TRUST_FAILURE = /^(?:UNABLE_TO_\w+|CERT_\w+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/**
 * What the wire said on the last HTTP attempt. @azure/identity flattens Entra's answers
 * into a message string, so the provider classifies failures from the HTTP exchange it
 * watched, not from the SDK's prose.
 */
export type EntraExchange =
  | { readonly kind: 'none' }
  | { readonly kind: 'response'; readonly status: number; readonly error?: string; readonly aadsts?: number; readonly retryAfterSeconds?: number; readonly requestId?: string }
  | { readonly kind: 'network'; readonly code?: string };

/**
 * Maps a failed token request to a broker error. The message never carries Entra's
 * text or any token; `detail` keeps the sanitised error and AADSTS code for the audit
 * (`AADSTS700211` no federated credential for the issuer, `AADSTS700213` … for the
 * subject, `AADSTS70021` none at all, `AADSTS700016` unknown app …). The SDK error is not
 * kept as `cause`: its message repeats Entra's description.
 */
export function entraError(err: unknown, last: EntraExchange, timedOut: boolean): BrokerError {
  if (isBrokerError(err)) return err;
  if (timedOut) return new ProviderTimeout('Microsoft Entra ID did not answer in time', { detail: 'entra: timeout' });
  if (last.kind === 'response') {
    const detail = `entra: HTTP ${last.status}${last.error ? ` ${last.error}` : ''}${last.aadsts ? ` AADSTS${last.aadsts}` : ''}${last.requestId ? ` (request ${last.requestId})` : ''}`;
    if (last.status === 408 || last.status === 429 || last.status >= 500) {
      return new ProviderUnavailable('Microsoft Entra ID is unavailable; try again later', { detail, retryAfterSeconds: last.retryAfterSeconds });
    }
    if (last.status >= 400) return new ProviderRejected("Microsoft Entra ID refused a token for the key's app", { detail });
    return new ProviderBadResponse('Microsoft Entra ID answered with an unusable response', { detail });
  }
  if (last.kind === 'network') {
    if (last.code !== undefined && TLS_TRUST_FAILURE.test(last.code)) {
      // Not transient: the authority's certificate is not trusted (see the provider's caFile).
      return new ProviderBadResponse("Microsoft Entra ID's TLS certificate is not trusted", { detail: `entra: tls ${last.code}` });
    }
    return new ProviderUnavailable('Microsoft Entra ID could not be reached; try again later', { detail: `entra: network ${last.code ?? 'error'}` });
  }
  return new ProviderBadResponse('Microsoft Entra ID could not be asked for a token', { detail: `entra: ${sanitize((err as { name?: unknown } | undefined)?.name) ?? 'error'}` });
}

/** Entra's error JSON: `{error, error_description: 'AADSTS700211: …', error_codes: [700211], trace_id, correlation_id}`. */
export function readEntraError(bodyText: string | undefined): { error?: string; aadsts?: number } {
  if (!bodyText) return {};
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const { error, error_codes: codes } = body as { error?: unknown; error_codes?: unknown };
  const first = Array.isArray(codes) ? codes[0] : undefined;
  return {
    error: sanitize(error),
    aadsts: typeof first === 'number' && Number.isSafeInteger(first) && first > 0 ? first : undefined,
  };
}

export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = /^\d{1,6}$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

export function sanitize(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(value) ? value : undefined;
}
