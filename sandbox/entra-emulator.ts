import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { FaultQueue, type FaultTimes } from './fault-queue';
import { readBody, sendJson } from './loopback-server';
import { remoteIssuerKeys } from './issuer-keys';

/**
 * A local stand-in for the Microsoft Entra ID token endpoint, over HTTPS with a test CA
 * (REFERENCE.md, Azure): `GET /{tenant}/v2.0/.well-known/openid-configuration` and
 * `POST /{tenant}/oauth2/v2.0/token` with a federated `client_assertion`.
 *
 * The assertion is verified for real against the trusted issuer's JWKS and matched to
 * the app's federated identity credentials exactly as Entra documents (issuer, subject,
 * audience; case-sensitive); failures answer Entra's error JSON with its AADSTS codes.
 * Requests are recorded and faults can be injected. No test-framework APIs.
 *
 * TLS: unless `tls` is given, a throwaway CA and a server certificate for 127.0.0.1
 * and localhost are made with the `openssl` CLI; `caPem`/`caFile` let a client trust it.
 */

export interface EntraEmulatorTrust {
  readonly issuer: string;
  /** Default: discovered from `{issuer}/.well-known/openid-configuration`, as Entra does. */
  readonly jwksUri?: string;
  /** The audience federated credentials accept (Entra: `api://AzureADTokenExchange`). */
  readonly audience: string;
}

export interface FederatedCredential {
  readonly tenantId: string;
  readonly clientId: string;
  readonly issuer: string;
  readonly subject: string;
  /** Default: the trust's audience. */
  readonly audiences?: readonly string[];
}

export interface EntraTls {
  readonly key: string;
  readonly cert: string;
  /** The CA a client must trust. */
  readonly ca: string;
}

export interface EntraEmulatorOptions {
  readonly trust: EntraEmulatorTrust;
  readonly federatedCredentials: readonly FederatedCredential[];
  /** `expires_in` of issued tokens (default 3599, as Entra answers app-only requests). */
  readonly tokenLifetimeSeconds?: number;
  readonly tls?: EntraTls;
}

export type EntraEndpoint = 'openid-configuration' | 'token';

export interface EntraRecordedRequest {
  readonly endpoint: EntraEndpoint | 'unknown';
  readonly method: string;
  readonly path: string;
  readonly tenant?: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly form?: Readonly<Record<string, string>>;
}

export interface EntraIssuedToken {
  readonly tenantId: string;
  readonly clientId: string;
  readonly scope: string;
  readonly accessToken: string;
  readonly expiresIn: number;
  /** The federated credential's subject that matched. */
  readonly subject: string;
}

export interface EntraFault {
  readonly status: number;
  /** An object is sent as JSON; text is sent as is. */
  readonly body?: string | object;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface EntraEmulator {
  /** `https://127.0.0.1:PORT`: the provider's `authorityHost`. */
  readonly authorityHost: string;
  /** The test CA, PEM. */
  readonly caPem: string;
  /** The test CA written to a file, for a config's `caFile`. */
  readonly caFile: string;
  readonly requests: readonly EntraRecordedRequest[];
  readonly issued: readonly EntraIssuedToken[];
  /** Requests whose client gave up (closed the connection) while the emulator held them. */
  readonly abandoned: number;
  calls(endpoint?: EntraEndpoint): number;
  addFederatedCredential(credential: FederatedCredential): void;
  /** The next `times` requests to the endpoint get this answer instead of the real one (after faults queued before). */
  failNext(endpoint: EntraEndpoint, fault: EntraFault, times?: FaultTimes): void;
  /** The next `times` requests to the endpoint are held open without an answer. */
  hangNext(endpoint: EntraEndpoint, times?: FaultTimes): void;
  reset(): void;
  close(): Promise<void>;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TENANT_PATH = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/;
const NO_STORE = { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' };
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

type Action = { readonly kind: 'fail'; readonly fault: EntraFault } | { readonly kind: 'hang' };

class EntraError {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly text: string,
  ) {}
}

export async function startEntraEmulator(options: EntraEmulatorOptions): Promise<EntraEmulator> {
  const workDir = mkdtempSync(join(tmpdir(), 'voidkey-entra-'));
  const tls = options.tls ?? createTestTls(workDir);
  const caFile = join(workDir, 'entra-test-ca.pem');
  writeFileSync(caFile, tls.ca);
  const jwks = remoteIssuerKeys(options.trust.issuer, { jwksUri: options.trust.jwksUri });
  const credentials = [...options.federatedCredentials];
  const requests: EntraRecordedRequest[] = [];
  const issued: EntraIssuedToken[] = [];
  const faults: Record<EntraEndpoint, FaultQueue<Action>> = { 'openid-configuration': new FaultQueue(), token: new FaultQueue() };
  const held = new Set<ServerResponse>();
  let abandoned = 0;
  let authorityHost = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const match = TENANT_PATH.exec(path);
    const endpoint: EntraEndpoint | 'unknown' = !match ? 'unknown' : match[2]!.startsWith('v2.0') ? (req.method === 'GET' ? 'openid-configuration' : 'unknown') : req.method === 'POST' ? 'token' : 'unknown';
    const contentType = String(req.headers['content-type'] ?? '');
    const record: EntraRecordedRequest = {
      endpoint,
      method: req.method ?? '',
      path,
      ...(match ? { tenant: decodeURIComponent(match[1]!) } : {}),
      headers: { ...req.headers },
      body,
      ...(contentType.startsWith('application/x-www-form-urlencoded') ? { form: Object.fromEntries(new URLSearchParams(body)) } : {}),
    };
    requests.push(record);
    if (endpoint === 'unknown') return sendJson(res, 404, { error: 'not_found' });

    const action = faults[endpoint].take();
    if (action?.kind === 'hang') {
      held.add(res);
      res.on('close', () => {
        if (held.delete(res)) abandoned += 1;
      });
      return;
    }
    if (action?.kind === 'fail') return sendFault(res, action.fault);

    const tenant = record.tenant!;
    if (!credentials.some((c) => c.tenantId === tenant)) {
      return sendEntraError(res, new EntraError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`));
    }
    if (endpoint === 'openid-configuration') return sendJson(res, 200, openIdConfiguration(authorityHost, tenant));
    try {
      const token = await issueToken(tenant, record.form ?? {});
      sendJson(res, 200, { token_type: 'Bearer', expires_in: token.expiresIn, ext_expires_in: token.expiresIn, access_token: token.accessToken }, { 'x-ms-request-id': randomUUID(), ...NO_STORE });
    } catch (err) {
      if (err instanceof EntraError) return sendEntraError(res, err);
      throw err;
    }
  }

  async function issueToken(tenant: string, form: Readonly<Record<string, string>>): Promise<EntraIssuedToken> {
    for (const field of ['grant_type', 'client_id', 'scope']) {
      if (!form[field]) throw new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${field}'.`);
    }
    if (form.grant_type !== 'client_credentials') throw new EntraError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const clientId = form.client_id!;
    const scope = form.scope!;
    const appCredentials = credentials.filter((c) => c.tenantId === tenant && c.clientId === clientId);
    if (appCredentials.length === 0) {
      throw new EntraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
    }
    if (form.client_assertion_type !== ASSERTION_TYPE || !form.client_assertion) {
      throw new EntraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const resourceScopes = scope.split(' ').filter((s) => s !== '' && !OIDC_SCOPES.has(s));
    if (resourceScopes.length !== 1 || !/^\S+\/\.default$/.test(resourceScopes[0]!)) {
      throw new EntraError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    let claims: JWTPayload;
    try {
      claims = decodeJwt(form.client_assertion);
    } catch {
      throw new EntraError(400, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    // Entra looks the app's federated credentials up by issuer, validates the assertion with that
    // issuer's keys (signature, time window), then matches subject and audience exactly.
    const byIssuer = appCredentials.filter((c) => c.issuer === claims.iss);
    if (byIssuer.length === 0 || claims.iss !== options.trust.issuer) {
      throw new EntraError(400, 'invalid_client', 700211, `No matching federated identity record found for presented assertion issuer '${String(claims.iss)}'.`);
    }
    try {
      await jwtVerify(form.client_assertion, jwks, { issuer: options.trust.issuer });
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired || (err instanceof joseErrors.JWTClaimValidationFailed && (err.claim === 'nbf' || err.claim === 'iat'))) {
        throw new EntraError(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      }
      throw new EntraError(400, 'invalid_client', 50013, 'Assertion failed signature validation.');
    }
    const bySubject = byIssuer.filter((c) => c.subject === claims.sub);
    if (bySubject.length === 0) throw new EntraError(400, 'invalid_client', 700213, `No matching federated identity record found for presented assertion subject '${String(claims.sub)}'.`);
    const audiences = [claims.aud ?? []].flat();
    const matched = bySubject.find((c) => (c.audiences ?? [options.trust.audience]).some((a) => audiences.includes(a)));
    if (!matched) throw new EntraError(400, 'invalid_client', 700212, `No matching federated identity record found for presented assertion audience '${audiences.join(',')}'.`);

    const expiresIn = options.tokenLifetimeSeconds ?? 3599;
    const token: EntraIssuedToken = { tenantId: tenant, clientId, scope, accessToken: `emu-entra.${randomBytes(32).toString('base64url')}`, expiresIn, subject: matched.subject };
    issued.push(token);
    return token;
  }

  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendEntraError(res, new EntraError(500, 'server_error', 90033, 'A transient error has occurred. Please try again.'));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  authorityHost = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    authorityHost,
    caPem: tls.ca,
    caFile,
    requests,
    issued,
    get abandoned() {
      return abandoned;
    },
    calls: (endpoint) => requests.filter((r) => endpoint === undefined || r.endpoint === endpoint).length,
    addFederatedCredential: (credential) => void credentials.push(credential),
    failNext: (endpoint, fault, times = 1) => faults[endpoint].add({ kind: 'fail', fault }, times),
    hangNext: (endpoint, times = 1) => faults[endpoint].add({ kind: 'hang' }, times),
    reset: () => {
      requests.length = 0;
      issued.length = 0;
      faults['openid-configuration'].clear();
      faults.token.clear();
      abandoned = 0;
    },
    close: async () => {
      held.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** A throwaway CA (P-256, one day) and a server certificate for 127.0.0.1 and localhost, made with the openssl CLI. */
export function createTestTls(dir: string): EntraTls {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=Voidkey test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '1', '-extfile', file('server.ext'), '-out', file('server.pem'));
  const tls = { key: readFileSync(file('server.key'), 'utf8'), cert: readFileSync(file('server.pem'), 'utf8'), ca: readFileSync(file('ca.pem'), 'utf8') };
  for (const name of ['ca.key', 'server.key', 'server.csr', 'server.ext']) rmSync(file(name), { force: true });
  return tls;
}

function openIdConfiguration(host: string, tenant: string): object {
  return {
    token_endpoint: `${host}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${host}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${host}/${tenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${host}/oidc/userinfo`,
    authorization_endpoint: `${host}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${host}/${tenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${host}/${tenant}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid'],
    kerberos_endpoint: `${host}/${tenant}/kerberos`,
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

function sendEntraError(res: ServerResponse, err: EntraError): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  sendJson(res, err.status, {
    error: err.error,
    error_description: `AADSTS${err.code}: ${err.text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${err.code}`,
  }, { 'x-ms-request-id': traceId, ...NO_STORE });
}

function sendFault(res: ServerResponse, fault: EntraFault): void {
  const text = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body ?? {});
  const type = typeof fault.body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8';
  res.writeHead(fault.status, { 'content-type': type, ...fault.headers });
  res.end(text);
}
