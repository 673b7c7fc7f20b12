import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { gaxios, IdentityPoolClient, Impersonated, type IdentityPoolClientOptions } from 'google-auth-library';
import { checkExpiry, ProviderBadResponse, RetryBudget } from '../../broker-core';
import { CLOUD_PLATFORM_SCOPE } from './gcp-config';
import { gcpError, type GcpLeg } from './gcp-errors';

export interface GcpTokenRequest {
  /** The pool provider's resource name: the STS `audience`. */
  readonly workloadIdentityProvider: string;
  readonly stsEndpoint: string;
  readonly iamCredentialsEndpoint: string;
  /** The broker's own OIDC token, exchanged at STS. */
  readonly subjectToken: string;
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly delegates: readonly string[];
  readonly lifetimeSeconds: number;
}

export interface GcpTransport {
  /** Keep-alive agents shared by all mints of one provider (sockets only, never tokens). */
  readonly agent: (url: URL) => HttpAgent | HttpsAgent;
  /** Budget for the whole mint: both calls and their retries. */
  readonly timeoutMs: number;
}

export interface GcpAccessToken {
  readonly accessToken: string;
  readonly expireTime: Date;
}

const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * google-auth-library 10 gives the STS exchange a default transporter of its own instead
 * of the client's (googleapis/google-cloud-node#8292), so the exchange would ignore our
 * agent, deadline and retry budget. This subclass hands it the client's transporter.
 */
class BrokerIdentityPoolClient extends IdentityPoolClient {
  constructor(options: IdentityPoolClientOptions) {
    super(options);
    (this.stsCredential as unknown as { transporter: gaxios.Gaxios }).transporter = this.transporter;
  }
}

/**
 * Workload identity federation through google-auth-library: the broker's token is
 * exchanged at STS for a federated token, which `generateAccessToken` turns into the
 * service account's token. Fresh clients per call: the library caches tokens per
 * instance, and one caller must never receive another's token.
 */
export async function generateAccessToken(
  request: GcpTokenRequest,
  transport: GcpTransport,
  scope: { readonly signal: AbortSignal; readonly deadline: number },
): Promise<GcpAccessToken> {
  const deadline = AbortSignal.any([scope.signal, AbortSignal.timeout(transport.timeoutMs)]);
  // One budget for both legs: STS and IAM Credentials share 3 attempts, so retries never multiply.
  const budget = new RetryBudget({ signal: deadline, deadline: Math.min(scope.deadline, Date.now() + transport.timeoutMs) });
  const transporter = new gaxios.Gaxios({
    agent: transport.agent,
    signal: deadline,
    maxContentLength: MAX_RESPONSE_BYTES,
    // Retries are the budget's (throttling, 5xx and lost connections; never a 4xx), not gaxios's.
    // google-auth-library asks for retries per request (`retry: true`): this config turns them off.
    retryConfig: { retry: 0, noResponseRetries: 0, shouldRetry: () => false },
  });
  const federation = new BrokerIdentityPoolClient({
    type: 'external_account',
    audience: request.workloadIdentityProvider,
    subject_token_type: JWT_TOKEN_TYPE,
    token_url: request.stsEndpoint,
    subject_token_supplier: { getSubjectToken: async () => request.subjectToken },
    // generateAccessToken requires the federated token to carry cloud-platform.
    scopes: [CLOUD_PLATFORM_SCOPE],
    transporter,
  });
  const impersonation = new Impersonated({
    sourceClient: federation,
    targetPrincipal: request.serviceAccount,
    targetScopes: [...request.scopes],
    delegates: request.delegates.map((email) => `projects/-/serviceAccounts/${email}`),
    lifetime: request.lifetimeSeconds,
    endpoint: request.iamCredentialsEndpoint,
    transporter,
  });

  const step = <T>(leg: GcpLeg, call: () => Promise<T>): Promise<T> => budget.run(call, (err) => gcpError(leg, err, deadline.aborted));

  const federated = await step('sts', () => federation.getAccessToken());
  if (typeof federated.token !== 'string' || federated.token === '') {
    throw new ProviderBadResponse('GCP STS answered without an access token', { detail: 'sts: no access_token' });
  }
  // The library reuses the federated token it just cached; only generateAccessToken goes out.
  const answer = await step('iam', () => impersonation.getAccessToken());
  const token = parseGenerateAccessToken(answer.res?.data);
  checkExpiry(token.expireTime, request.lifetimeSeconds, 'GCP IAM Credentials');
  return token;
}

/** `{accessToken, expireTime}`: both present, the expiry a real instant in the future. An expiry is never invented. */
function parseGenerateAccessToken(data: unknown): GcpAccessToken {
  const body = (typeof data === 'object' && data !== null ? data : {}) as { accessToken?: unknown; expireTime?: unknown };
  if (typeof body.accessToken !== 'string' || body.accessToken === '') {
    throw new ProviderBadResponse('GCP IAM Credentials answered without an access token', { detail: 'iam: no accessToken' });
  }
  const expireTime = typeof body.expireTime === 'string' ? new Date(body.expireTime) : undefined;
  if (!expireTime || Number.isNaN(expireTime.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(body.expireTime as string)) {
    throw new ProviderBadResponse('GCP IAM Credentials answered without a valid expiry', { detail: 'iam: bad expireTime' });
  }
  return { accessToken: body.accessToken, expireTime };
}
