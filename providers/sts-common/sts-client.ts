import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { AssumeRoleWithWebIdentityCommand, STSClient, type AssumeRoleWithWebIdentityCommandInput, type Credentials } from '@aws-sdk/client-sts';
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
  readonly maxAttempts?: number;
}

/**
 * One SDK client per provider, reused across requests: keep-alive sockets, the SDK's
 * standard retry strategy (throttling, 5xx and transient errors; never a 4xx) and a
 * request timeout that really throws.
 */
export function createStsClient(options: StsClientOptions): STSClient {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  return new STSClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: options.maxAttempts ?? 3,
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

/** `policy` may be a JSON string or a YAML mapping; STS receives compact JSON. */
export function policyDocument(policy: unknown): string | undefined {
  if (policy === undefined) return undefined;
  return typeof policy === 'string' ? JSON.stringify(JSON.parse(policy)) : JSON.stringify(policy);
}

export async function assumeRoleWithWebIdentity(
  client: STSClient,
  input: AssumeRoleWithWebIdentityCommandInput,
  context: MintContext,
  flavor: string,
): Promise<MintedCredential> {
  let output;
  try {
    output = await client.send(new AssumeRoleWithWebIdentityCommand(input), { abortSignal: context.signal });
  } catch (err) {
    throw translateStsError(err, flavor);
  }
  const credential = checkCredentials(output.Credentials, flavor);
  return {
    fields: {
      AccessKeyId: credential.AccessKeyId,
      SecretAccessKey: credential.SecretAccessKey,
      SessionToken: credential.SessionToken,
      Expiration: credential.Expiration.toISOString(),
    },
    expiresAt: credential.Expiration,
    credentialId: credential.AccessKeyId,
    upstreamRequestId: output.$metadata.requestId,
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
