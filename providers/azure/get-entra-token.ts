import type { Agent } from 'node:https';
import { ClientAssertionCredential, type ClientAssertionCredentialOptions } from '@azure/identity';
import { checkExpiry, ProviderBadResponse, RetryBudget } from '../../broker-core';
import { entraError, parseRetryAfter, readEntraError, sanitize, type EntraExchange } from './azure-errors';

type PipelinePolicy = NonNullable<ClientAssertionCredentialOptions['additionalPolicies']>[number]['policy'];

export interface EntraTokenRequest {
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly scope: string;
  /** The broker's own OIDC token, presented as the federated client assertion. */
  readonly assertion: string;
}

export interface EntraTransport {
  /**
   * One keep-alive https agent per provider (sockets only, never tokens), carrying the
   * provider's `caFile` CAs when set: the only TLS trust the Entra calls use.
   */
  readonly agent: Agent;
  /** Budget for the whole token request: metadata, token call and retries. */
  readonly timeoutMs: number;
}

export interface EntraToken {
  readonly accessToken: string;
  readonly expiresOn: Date;
  readonly requestId?: string;
}

/**
 * Entra's access tokens live 60-90 minutes by default; token lifetime policies and CAE
 * stretch them to 28 hours at most. An expiry past that is a bad answer.
 */
export const MAX_ENTRA_TOKEN_SECONDS = 28 * 3600;

/**
 * A federated client-credentials token through @azure/identity. A fresh credential per
 * call, so no MSAL token cache is ever shared between callers.
 */
export async function getEntraToken(
  request: EntraTokenRequest,
  transport: EntraTransport,
  scope: { readonly signal: AbortSignal; readonly deadline: number },
): Promise<EntraToken> {
  const deadline = AbortSignal.any([scope.signal, AbortSignal.timeout(transport.timeoutMs)]);
  // The SDK's own retries are off: each attempt (metadata and token call) counts against one budget of 3.
  const budget = new RetryBudget({ signal: deadline, deadline: Math.min(scope.deadline, Date.now() + transport.timeoutMs) });
  let last: EntraExchange = { kind: 'none' };
  return budget.run(
    () => attempt(request, transport, deadline, (exchange) => (last = exchange)),
    (err) => entraError(err, last, deadline.aborted),
  );
}

async function attempt(request: EntraTokenRequest, transport: EntraTransport, deadline: AbortSignal, saw: (exchange: EntraExchange) => void): Promise<EntraToken> {
  saw({ kind: 'none' });
  let tokenRequestId: string | undefined;
  let tokenExpiresIn: number | undefined;

  // @azure/identity does not hand getToken's abortSignal to its HTTP calls; this policy
  // ties every call, and every wait between retries, to the mint's deadline.
  const bindDeadline: PipelinePolicy = {
    name: 'voidkeyDeadline',
    sendRequest(req, next) {
      req.abortSignal = req.abortSignal instanceof AbortSignal ? AbortSignal.any([req.abortSignal, deadline]) : deadline;
      return next(req);
    },
  };
  // Runs once per attempt: records what Entra said and keeps retry waits inside the deadline.
  const watchWire: PipelinePolicy = {
    name: 'voidkeyWatchWire',
    async sendRequest(req, next) {
      try {
        const response = await next(req);
        const retryAfter = response.headers.get('retry-after');
        const requestId = requestIdOf(response.headers.get('x-ms-request-id'));
        saw({
          kind: 'response',
          status: response.status,
          ...(response.status >= 400 ? readEntraError(response.bodyAsText ?? undefined) : {}),
          retryAfterSeconds: parseRetryAfter(retryAfter),
          requestId,
        });
        if (req.method === 'POST') {
          tokenRequestId = requestId;
          tokenExpiresIn = response.status === 200 ? readExpiresIn(response.bodyAsText ?? undefined) : undefined;
        }
        return response;
      } catch (err) {
        saw({ kind: 'network', code: sanitize((err as { code?: unknown }).code) });
        throw err;
      }
    },
  };

  const credential = new ClientAssertionCredential(request.tenantId, request.clientId, async () => request.assertion, {
    authorityHost: request.authorityHost,
    // Else MSAL first asks the public cloud's instance-discovery endpoint about the authority.
    disableInstanceDiscovery: true,
    agent: transport.agent,
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [
      { policy: bindDeadline, position: 'perCall' },
      { policy: watchWire, position: 'perRetry' },
    ],
  });

  // A failure is classified by the budget, from what the wire said.
  const result = await untilAborted(credential.getToken(request.scope, { abortSignal: deadline }), deadline);
  if (!result || typeof result.token !== 'string' || result.token === '') {
    throw new ProviderBadResponse('Microsoft Entra ID answered without an access token', { detail: 'entra: no access_token' });
  }
  const expiresOn = new Date(result.expiresOnTimestamp);
  // MSAL turns a missing or unreadable expires_in into "expires now" (rounded, so possibly a
  // moment ahead): the answer on the wire decides, and an expiry is never invented.
  if (tokenExpiresIn === undefined || !Number.isFinite(result.expiresOnTimestamp) || expiresOn.getTime() <= Date.now()) {
    throw new ProviderBadResponse('Microsoft Entra ID answered without a valid expiry', { detail: 'entra: bad expires_in' });
  }
  checkExpiry(expiresOn, MAX_ENTRA_TOKEN_SECONDS, 'Microsoft Entra ID');
  return { accessToken: result.token, expiresOn, ...(tokenRequestId === undefined ? {} : { requestId: tokenRequestId }) };
}

/** `expires_in` of a token answer: a positive whole number of seconds (Entra may send it as a string). */
function readExpiresIn(bodyText: string | undefined): number | undefined {
  let body: unknown;
  try {
    body = JSON.parse(bodyText ?? '');
  } catch {
    return undefined;
  }
  const value = (body as { expires_in?: unknown } | null)?.expires_in;
  const seconds = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

function requestIdOf(value: string | undefined): string | undefined {
  return value !== undefined && /^[A-Za-z0-9-]{1,64}$/.test(value) ? value : undefined;
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
