import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose';
import { FaultQueue, type FaultTimes } from './fault-queue';
import { listenOnLoopback, readBody, sendJson } from './loopback-server';
import { remoteIssuerKeys } from './issuer-keys';

/**
 * A local stand-in for Google's Security Token Service and IAM Credentials API, speaking
 * their documented JSON wire protocol (REFERENCE.md, GCP): `POST /v1/token` (RFC 8693
 * token exchange) and `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`.
 *
 * It verifies the subject token for real (issuer, audience, signature against the
 * trusted JWKS), enforces per-service-account IAM bindings and lifetime limits, answers
 * errors in Google's shapes, records every request and can be switched into faults.
 * Plain http on 127.0.0.1; no test-framework APIs, so a demo script can start it too.
 */

export interface GcpEmulatorTrust {
  /** The issuer the workload identity pool provider trusts (the broker's IdP). */
  readonly issuer: string;
  /** Default: discovered from `{issuer}/.well-known/openid-configuration`. */
  readonly jwksUri?: string;
  /** A pool provider's uploaded JWKS (`--jwk-json-path`): for an issuer GCP cannot reach; nothing is fetched. */
  readonly jwks?: { readonly keys: readonly object[] };
  /**
   * The provider's attribute mapping; only `assertion.CLAIM` expressions. `google.subject`
   * names the principal (default `assertion.sub`).
   */
  readonly attributeMapping?: Readonly<Record<string, string>>;
  /**
   * The provider's allowed audiences. Unset, GCP's default applies: the provider's full
   * resource name, with or without the `https:` prefix.
   */
  readonly audience?: string | readonly string[];
}

export interface GcpServiceAccountPolicy {
  /**
   * Members granted `roles/iam.workloadIdentityUser` on the account:
   * `principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/subject/SUB`,
   * `principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/*`,
   * or `serviceAccount:EMAIL` (a delegate in a delegation chain).
   */
  readonly members: readonly string[];
  /** Listed in constraints/iam.allowServiceAccountCredentialLifetimeExtension: lifetimes up to 43200 s. */
  readonly extendedLifetime?: boolean;
}

export interface GcpEmulatorOptions {
  readonly trust: GcpEmulatorTrust;
  /** The pool provider this emulator plays; STS rejects any other `audience`. Unset: any well-formed one. */
  readonly workloadIdentityProvider?: string;
  readonly serviceAccounts?: Readonly<Record<string, GcpServiceAccountPolicy>>;
  /** `expires_in` of federated tokens (default 3600). */
  readonly federatedTokenLifetimeSeconds?: number;
}

export type GcpEndpoint = 'sts' | 'generateAccessToken';

export interface GcpRecordedRequest {
  readonly endpoint: GcpEndpoint | 'unknown';
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The form fields of a form-encoded body. */
  readonly form?: Readonly<Record<string, string>>;
  /** The parsed body of a JSON request. */
  readonly json?: unknown;
  /** For generateAccessToken: the service account named in the path. */
  readonly serviceAccount?: string;
}

export interface GcpIssuedToken {
  readonly serviceAccount: string;
  readonly accessToken: string;
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly expireTime: string;
  /** The pool principal the chain started from. */
  readonly principal: string;
  readonly delegates: readonly string[];
}

/** A canned answer: `body` may be an object (sent as JSON) or raw text (sent as is). */
export interface GcpFault {
  readonly status: number;
  readonly body?: string | object;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface GcpEmulator {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** For the provider's `stsEndpoint`. */
  readonly stsEndpoint: string;
  /** For the provider's `iamCredentialsEndpoint`. */
  readonly iamCredentialsEndpoint: string;
  readonly requests: readonly GcpRecordedRequest[];
  readonly issued: readonly GcpIssuedToken[];
  /** Requests whose client gave up (closed the connection) while the emulator held them. */
  readonly abandoned: number;
  /** Requests received, for one endpoint or all. */
  calls(endpoint?: GcpEndpoint): number;
  setServiceAccount(email: string, policy: GcpServiceAccountPolicy): void;
  /** The next `times` requests to the endpoint get this answer instead of the real one (after faults queued before). */
  failNext(endpoint: GcpEndpoint, fault: GcpFault, times?: FaultTimes): void;
  /** The next `times` requests to the endpoint are held open without an answer. */
  hangNext(endpoint: GcpEndpoint, times?: FaultTimes): void;
  /** Forget recorded requests, issued tokens and pending faults. */
  reset(): void;
  close(): Promise<void>;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TOKEN_TYPES = new Set(['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token']);
const PROVIDER_NAME = /^\/\/iam\.googleapis\.com\/projects\/(\d+)\/locations\/global\/workloadIdentityPools\/([a-z0-9-]+)\/providers\/[a-z0-9-]+$/;
const GENERATE_PATH = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;
const DURATION = /^(\d+)(?:\.\d+)?s$/;

type Action = { readonly kind: 'fail'; readonly fault: GcpFault } | { readonly kind: 'hang' };

interface FederatedToken {
  readonly principal: string;
  readonly principalSet: string;
  readonly expiresAt: number;
}

export async function startGcpEmulator(options: GcpEmulatorOptions): Promise<GcpEmulator> {
  const jwks = options.trust.jwks ? createLocalJWKSet(options.trust.jwks as JSONWebKeySet) : remoteIssuerKeys(options.trust.issuer, { jwksUri: options.trust.jwksUri });
  const subjectExpression = options.trust.attributeMapping?.['google.subject'] ?? 'assertion.sub';
  const subjectMatch = /^assertion\.([A-Za-z_][\w]*)$/.exec(subjectExpression);
  if (subjectMatch === null) throw new Error(`attribute mapping '${subjectExpression}': the emulator reads assertion.CLAIM only`);
  const subjectClaim = subjectMatch[1]!;
  const serviceAccounts = new Map(Object.entries(options.serviceAccounts ?? {}));
  const federated = new Map<string, FederatedToken>();
  const requests: GcpRecordedRequest[] = [];
  const issued: GcpIssuedToken[] = [];
  const faults: Record<GcpEndpoint, FaultQueue<Action>> = { sts: new FaultQueue(), generateAccessToken: new FaultQueue() };
  const held = new Set<ServerResponse>();
  let abandoned = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const saMatch = GENERATE_PATH.exec(path);
    const endpoint: GcpEndpoint | 'unknown' = req.method === 'POST' && path === '/v1/token' ? 'sts' : req.method === 'POST' && saMatch ? 'generateAccessToken' : 'unknown';
    const contentType = String(req.headers['content-type'] ?? '');
    const record: GcpRecordedRequest = {
      endpoint,
      method: req.method ?? '',
      path,
      headers: { ...req.headers },
      body,
      ...(contentType.startsWith('application/x-www-form-urlencoded') ? { form: Object.fromEntries(new URLSearchParams(body)) } : {}),
      ...(contentType.startsWith('application/json') ? { json: parseJson(body) } : {}),
      ...(saMatch ? { serviceAccount: decodeURIComponent(saMatch[1]!) } : {}),
    };
    requests.push(record);

    if (endpoint === 'unknown') return sendGoogleError(res, 404, 'NOT_FOUND', 'The requested URL was not found on this server.');
    const action = faults[endpoint].take();
    if (action?.kind === 'hang') {
      held.add(res);
      res.on('close', () => {
        if (held.delete(res)) abandoned += 1;
      });
      return;
    }
    if (action?.kind === 'fail') return sendFault(res, action.fault);
    if (endpoint === 'sts') return exchange(record, res);
    return generateAccessToken(record, req, res);
  }

  async function exchange(record: GcpRecordedRequest, res: ServerResponse): Promise<void> {
    const params = record.form ?? (isRecord(record.json) ? stringFields(record.json) : undefined);
    if (!params) return sendStsError(res, 400, 'invalid_request', 'Invalid request body: expected form fields or JSON.');
    if (params.grant_type !== TOKEN_EXCHANGE_GRANT) return sendStsError(res, 400, 'unsupported_grant_type', `Unsupported grant_type "${params.grant_type ?? ''}".`);
    if (params.requested_token_type !== ACCESS_TOKEN_TYPE) return sendStsError(res, 400, 'invalid_request', 'Invalid value for "requested_token_type".');
    if (!SUBJECT_TOKEN_TYPES.has(params.subject_token_type ?? '')) return sendStsError(res, 400, 'invalid_request', 'Invalid value for "subject_token_type".');
    if (!params.subject_token) return sendStsError(res, 400, 'invalid_request', 'Missing required field "subject_token".');
    if (!params.scope) return sendStsError(res, 400, 'invalid_scope', 'Missing required field "scope".');
    const audience = params.audience ?? '';
    const pool = PROVIDER_NAME.exec(audience);
    if (!pool || (options.workloadIdentityProvider !== undefined && audience !== options.workloadIdentityProvider)) {
      return sendStsError(res, 400, 'invalid_target', 'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.');
    }
    const allowed = options.trust.audience === undefined ? [audience, `https:${audience}`] : [options.trust.audience].flat();
    let subject: string;
    try {
      const { payload } = await jwtVerify(params.subject_token, jwks, { issuer: options.trust.issuer, audience: allowed });
      const mapped = payload[subjectClaim];
      if (typeof mapped !== 'string' || mapped === '' || mapped.length > 127) throw new Error('google.subject is empty or longer than 127 characters');
      subject = mapped;
    } catch (err) {
      return sendStsError(res, 400, 'invalid_grant', describeJwtFailure(err));
    }
    const [, project, poolId] = pool;
    const base = `iam.googleapis.com/projects/${project}/locations/global/workloadIdentityPools/${poolId}`;
    const lifetime = options.federatedTokenLifetimeSeconds ?? 3600;
    const token = `emu-federated.${randomBytes(24).toString('base64url')}`;
    federated.set(token, { principal: `principal://${base}/subject/${subject}`, principalSet: `principalSet://${base}/*`, expiresAt: Date.now() + lifetime * 1000 });
    sendJson(res, 200, { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: lifetime });
  }

  function generateAccessToken(record: GcpRecordedRequest, req: IncomingMessage, res: ServerResponse): void {
    const bearer = /^Bearer (\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const caller = bearer === undefined ? undefined : federated.get(bearer);
    if (!caller || caller.expiresAt <= Date.now()) {
      return sendGoogleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    const target = record.serviceAccount!;
    const body = record.json;
    if (!isRecord(body)) return sendGoogleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    const scope = body.scope;
    if (!Array.isArray(scope) || scope.length === 0 || !scope.every((s) => typeof s === 'string' && s !== '')) {
      return sendGoogleError(res, 400, 'INVALID_ARGUMENT', 'Scope required.');
    }
    const delegateNames = body.delegates ?? [];
    if (!Array.isArray(delegateNames) || !delegateNames.every((d) => typeof d === 'string')) return sendGoogleError(res, 400, 'INVALID_ARGUMENT', 'Invalid delegates.');
    const delegates: string[] = [];
    for (const name of delegateNames as string[]) {
      const email = /^projects\/-\/serviceAccounts\/([^/]+)$/.exec(name)?.[1];
      if (!email) return sendGoogleError(res, 400, 'INVALID_ARGUMENT', 'Delegates must have the format projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}.');
      delegates.push(email);
    }
    // The chain: the pool principal may act as the first account, each account as the next.
    let members = [caller.principal, caller.principalSet];
    for (const hop of [...delegates, target]) {
      const policy = serviceAccounts.get(hop);
      if (!policy || !policy.members.some((member) => members.includes(member))) {
        return sendGoogleError(res, 403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'iam.googleapis.com', metadata: { permission: 'iam.serviceAccounts.getAccessToken' } },
        ]);
      }
      members = [`serviceAccount:${hop}`];
    }
    let lifetimeSeconds = 3600;
    if (body.lifetime !== undefined) {
      const match = typeof body.lifetime === 'string' ? DURATION.exec(body.lifetime) : null;
      if (!match) return sendGoogleError(res, 400, 'INVALID_ARGUMENT', 'Invalid value at \'lifetime\' (type.googleapis.com/google.protobuf.Duration).');
      lifetimeSeconds = Number(match[1]);
    }
    const max = serviceAccounts.get(target)?.extendedLifetime ? 43_200 : 3_600;
    if (lifetimeSeconds < 1 || lifetimeSeconds > max) {
      return sendGoogleError(res, 400, 'INVALID_ARGUMENT', `The lifetime must be between 1s and ${max}s.`);
    }
    const accessToken = `ya29.emu-${randomBytes(32).toString('base64url')}`;
    const expireTime = new Date(Math.floor(Date.now() / 1000) * 1000 + lifetimeSeconds * 1000).toISOString().replace('.000Z', 'Z');
    issued.push({ serviceAccount: target, accessToken, scopes: scope as string[], lifetimeSeconds, expireTime, principal: caller.principal, delegates });
    sendJson(res, 200, { accessToken, expireTime });
  }

  const loopback = await listenOnLoopback((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendGoogleError(res, 500, 'INTERNAL', 'Internal error encountered.');
    });
  });
  const { url } = loopback;

  return {
    url,
    stsEndpoint: `${url}/v1/token`,
    iamCredentialsEndpoint: url,
    requests,
    issued,
    get abandoned() {
      return abandoned;
    },
    calls: (endpoint) => requests.filter((r) => endpoint === undefined || r.endpoint === endpoint).length,
    setServiceAccount: (email, policy) => void serviceAccounts.set(email, policy),
    failNext: (endpoint, fault, times = 1) => faults[endpoint].add({ kind: 'fail', fault }, times),
    hangNext: (endpoint, times = 1) => faults[endpoint].add({ kind: 'hang' }, times),
    reset: () => {
      requests.length = 0;
      issued.length = 0;
      faults.sts.clear();
      faults.generateAccessToken.clear();
      abandoned = 0;
    },
    close: async () => {
      held.clear();
      await loopback.close();
    },
  };
}

function describeJwtFailure(err: unknown): string {
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'The audience in ID Token does not match the expected audience.';
    if (err.claim === 'iss') return 'The issuer in ID Token does not match the expected issuer.';
    return `ID Token claim "${err.claim}" is invalid.`;
  }
  if (err instanceof joseErrors.JWTExpired) return 'ID Token has expired.';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) return 'Invalid JWT signature.';
  return 'Unable to parse the ID Token.';
}

function sendStsError(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description });
}

function sendGoogleError(res: ServerResponse, code: number, status: string, message: string, details?: object[]): void {
  sendJson(res, code, { error: { code, message, status, ...(details ? { details } : {}) } });
}

function sendFault(res: ServerResponse, fault: GcpFault): void {
  const text = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body ?? {});
  const type = typeof fault.body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8';
  res.writeHead(fault.status, { 'content-type': type, ...fault.headers });
  res.end(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringFields(value: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
