import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  STSClient,
  type AssumeRoleCommandInput,
  type AssumeRoleWithWebIdentityCommandInput,
  type Credentials,
} from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  ProviderBadResponse,
  ProviderRejected,
  ProviderTimeout,
  ProviderUnavailable,
  type BrokerError,
  type MintContext,
  type MintedCredential,
} from '../../broker-core';

export interface StsClientOptions {
  readonly endpoint?: string;
  readonly region: string;
  readonly timeoutMs: number;
}

/**
 * One SDK client per provider, reused across requests: keep-alive sockets and a request
 * timeout that really throws. Retries are ours (`sendWithRetries`): they must respect the
 * request's deadline and the caller's token expiry, which the SDK's strategy cannot see.
 */
export function createStsClient(options: StsClientOptions): STSClient {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  return new STSClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    }),
  });
}

const AWS_SESSION_NAME = /[^\w+=,.@-]/g;

/** AWS's `[\w+=,.@-]{2,64}`, derived from the caller's subject; long subjects keep a hash suffix. */
export function roleSessionName(subject: string): string {
  let name = subject.replace(AWS_SESSION_NAME, '-');
  if (name.length > 64) name = `${name.slice(0, 55)}-${createHash('sha256').update(subject).digest('hex').slice(0, 8)}`;
  if (name.length < 2) name = `voidkey-${name}`;
  return name;
}

export { policyDocument } from './policy';

const MAX_ATTEMPTS = 3;
const BASE_BACKOFF_MS = 100;

/**
 * Sends with bounded retries: throttling, 5xx, IDPCommunicationError and lost
 * connections are retried with jittered exponential backoff while the next attempt still
 * fits before the deadline; a 4xx or a timeout never is.
 */
export async function sendWithRetries<T>(send: (signal: AbortSignal) => Promise<T>, context: MintContext, flavor: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(context.signal);
    } catch (err) {
      const error = translateStsError(err, flavor);
      const backoff = BASE_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const retryable = error.code === 'ERR_PROVIDER_UNAVAILABLE' && attempt < MAX_ATTEMPTS && !context.signal.aborted;
      if (!retryable || Date.now() + backoff >= context.deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

export async function assumeRoleWithWebIdentity(
  client: STSClient,
  input: AssumeRoleWithWebIdentityCommandInput,
  context: MintContext,
  flavor: string,
): Promise<MintedCredential> {
  const output = await sendWithRetries((abortSignal) => client.send(new AssumeRoleWithWebIdentityCommand(input), { abortSignal }), context, flavor);
  return minted(output.Credentials, output.$metadata.requestId, flavor);
}

export async function assumeRole(client: STSClient, input: AssumeRoleCommandInput, context: MintContext, flavor: string): Promise<MintedCredential> {
  const output = await sendWithRetries((abortSignal) => client.send(new AssumeRoleCommand(input), { abortSignal }), context, flavor);
  return minted(output.Credentials, output.$metadata.requestId, flavor);
}

function minted(credentials: Credentials | undefined, requestId: string | undefined, flavor: string): MintedCredential {
  const credential = checkCredentials(credentials, flavor);
  return {
    fields: {
      AccessKeyId: credential.AccessKeyId,
      SecretAccessKey: credential.SecretAccessKey,
      SessionToken: credential.SessionToken,
      Expiration: credential.Expiration.toISOString(),
    },
    expiresAt: credential.Expiration,
    credentialId: credential.AccessKeyId,
    upstreamRequestId: requestId,
  };
}

interface CompleteCredentials {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  readonly Expiration: Date;
}

/** An answer without every credential field, or with an unreadable expiry, is garbage. */
export function checkCredentials(credentials: Credentials | undefined, flavor: string): CompleteCredentials {
  const complete =
    credentials &&
    typeof credentials.AccessKeyId === 'string' && credentials.AccessKeyId !== '' &&
    typeof credentials.SecretAccessKey === 'string' && credentials.SecretAccessKey !== '' &&
    typeof credentials.SessionToken === 'string' && credentials.SessionToken !== '' &&
    credentials.Expiration instanceof Date && !Number.isNaN(credentials.Expiration.getTime());
  if (!complete) {
    throw new ProviderBadResponse(`${flavor} answered without complete credentials`, { detail: `${flavor}: incomplete Credentials` });
  }
  if (credentials.Expiration!.getTime() <= Date.now()) {
    throw new ProviderBadResponse(`${flavor} answered with credentials that have already expired`, { detail: `${flavor}: Expiration in the past` });
  }
  return credentials as unknown as CompleteCredentials;
}

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
  const error = err as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const name = typeof error?.name === 'string' && /^[A-Za-z.]{1,64}$/.test(error.name) ? error.name : 'Unknown';
  const status = error?.$metadata?.httpStatusCode;
  const detail = `${flavor}: ${name}${status ? ` (${status})` : ''}${error?.$metadata?.requestId ? ` request ${error.$metadata.requestId}` : ''}`;
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
