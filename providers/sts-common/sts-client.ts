import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  STSClient,
  type AssumeRoleCommandInput,
  type Credentials,
} from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  checkExpiry,
  ProviderBadResponse,
  RetryBudget,
  type HttpClient,
  type MintContext,
  type MintedCredential,
} from '../../broker-core';
import { translateStsError } from './sts-errors';
import { callSts, stsQueryBody, type StsQueryParams } from './sts-query-client';

export { translateStsError } from './sts-errors';
export { policyDocument } from './policy';

export interface StsClientOptions {
  readonly endpoint?: string;
  readonly region: string;
  readonly timeoutMs: number;
}

/**
 * The SDK client, kept for the signed `AssumeRole` (ambient credentials): keep-alive
 * sockets and a request timeout that really throws. Retries are ours (`RetryBudget`):
 * they must respect the request's deadline and the caller's token expiry.
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

/**
 * AWS's `[\w+=,.@-]{2,64}`, derived from the caller's subject. Whenever sanitising
 * changes the text (a character replaced, the name cut or padded), a short hash of the
 * original is appended, so two subjects never share a session name.
 */
export function roleSessionName(subject: string): string {
  const sanitised = subject.replace(AWS_SESSION_NAME, '-');
  if (sanitised === subject && subject.length >= 2 && subject.length <= 64) return subject;
  const hash = createHash('sha256').update(subject).digest('hex').slice(0, 8);
  return `${sanitised.slice(0, 55)}-${hash}`;
}

/** Where the SDK would send `AssumeRoleWithWebIdentity`: asked of the SDK itself, once per provider. */
export async function resolveStsUrl(options: { readonly endpoint?: string; readonly region: string }): Promise<string> {
  let url: string | undefined;
  const captured = new Error('endpoint captured');
  const client = new STSClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: {
      handle: async (request: { protocol: string; hostname: string; port?: number; path: string }) => {
        const host = request.hostname.includes(':') && !request.hostname.startsWith('[') ? `[${request.hostname}]` : request.hostname;
        url = `${request.protocol}//${host}${request.port ? `:${request.port}` : ''}${request.path}`;
        throw captured;
      },
    } as unknown as NodeHttpHandler,
  });
  try {
    await client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws:iam::000000000000:role/resolve', RoleSessionName: 'resolve', WebIdentityToken: 'resolve' }));
  } catch (err) {
    if (err !== captured) throw err;
  } finally {
    client.destroy();
  }
  if (url === undefined) throw new Error('the AWS SDK resolved no STS endpoint');
  return url;
}

export interface WebIdentityInput {
  readonly RoleArn?: string;
  readonly RoleSessionName: string;
  readonly WebIdentityToken: string;
  readonly PolicyArns?: ReadonlyArray<{ readonly arn: string }>;
  readonly Policy?: string;
  readonly DurationSeconds: number;
}

/**
 * `AssumeRoleWithWebIdentity` is unsigned, so it needs no SDK: the form body the SDK
 * would send goes through the broker's keep-alive HTTP client (a fifth of the SDK's CPU
 * per call), its answer size-capped and parsed by saxes (providers/sts-common/xml.ts). The differential test
 * (test/integration/sts-differential.test.ts) holds it to the SDK's wire format.
 */
export class WebIdentityStsClient {
  private url?: Promise<string>;

  constructor(
    private readonly options: StsClientOptions & { readonly http: HttpClient; readonly flavor: string },
  ) {}

  async assumeRoleWithWebIdentity(input: WebIdentityInput, context: MintContext): Promise<MintedCredential> {
    this.url ??= resolveStsUrl(this.options);
    let url: string;
    try {
      url = await this.url;
    } catch (err) {
      this.url = undefined; // asked again on the next mint
      throw new ProviderBadResponse(`${this.options.flavor} has no usable endpoint`, { detail: `${this.options.flavor}: endpoint unresolved (${translateStsError(err, this.options.flavor).detail ?? 'error'})` });
    }
    const params: Array<readonly [string, string | number | undefined]> = [
      ['RoleArn', input.RoleArn],
      ['RoleSessionName', input.RoleSessionName],
      ['WebIdentityToken', input.WebIdentityToken],
    ];
    input.PolicyArns?.forEach(({ arn }, n) => params.push([`PolicyArns.member.${n + 1}.arn`, arn]));
    params.push(['Policy', input.Policy], ['DurationSeconds', input.DurationSeconds]);
    const body = stsQueryBody('AssumeRoleWithWebIdentity', params satisfies StsQueryParams);
    const { flavor, http, timeoutMs } = this.options;
    const answer = await new RetryBudget(context).run(
      () => callSts(http, url, 'AssumeRoleWithWebIdentity', body, { timeoutMs, signal: context.signal, flavor }),
      (err) => translateStsError(err, flavor),
    );
    return minted(readCredentials(answer.result.Credentials, flavor), answer.requestId, flavor, input.DurationSeconds);
  }
}

/** The signed `AssumeRole`, through the SDK, with the same retry budget and checks. */
export async function assumeRole(client: STSClient, input: AssumeRoleCommandInput, context: MintContext, flavor: string): Promise<MintedCredential> {
  const output = await new RetryBudget(context).run(
    () => client.send(new AssumeRoleCommand(input), { abortSignal: context.signal }),
    (err) => translateStsError(err, flavor),
  );
  return minted(checkCredentials(output.Credentials, flavor), output.$metadata.requestId, flavor, input.DurationSeconds ?? 3600);
}

function minted(credential: CompleteCredentials, requestId: string | undefined, flavor: string, requestedSeconds: number): MintedCredential {
  checkExpiry(credential.Expiration, requestedSeconds, flavor);
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

const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/i;

/** `<Credentials>` of an XML answer: every field text, the expiry an ISO 8601 instant. */
function readCredentials(value: unknown, flavor: string): CompleteCredentials {
  const fields = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const expiration = typeof fields.Expiration === 'string' && ISO_8601.test(fields.Expiration) ? new Date(fields.Expiration) : undefined;
  return checkCredentials({ ...fields, Expiration: expiration } as Credentials, flavor);
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
