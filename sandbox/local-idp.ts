import type { IncomingMessage, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { Provider, errors, type Adapter, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import { FaultQueue, type FaultTimes } from './fault-queue';
import { listenOnLoopback, sendJson } from './loopback-server';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface LocalIdpClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /**
   * The registered `token_endpoint_auth_method` and what `clientCredentialsToken` uses;
   * default `client_secret_basic`. oidc-provider accepts basic and post interchangeably.
   */
  readonly authMethod?: ClientAuthMethod;
  /** private_key_jwt: the client's public keys (its assertions must verify against them). */
  readonly jwks?: { readonly keys: readonly object[] };
  /** Extra claims put in every access token issued to this client. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

export interface LocalIdpOptions {
  readonly clients: readonly LocalIdpClient[];
  /** Access-token lifetime; default 300 s. */
  readonly tokenTtlSeconds?: number;
  /** `aud` when a request names neither `audience` nor `resource`; without it such requests get `invalid_target`. */
  readonly defaultAudience?: string;
}

export interface TokenRequestTarget {
  /** Sent as the Voidkey-style `audience` form field. */
  readonly audience?: string;
  /** Sent as the RFC 8707 `resource` form field. */
  readonly resource?: string;
}

export interface LocalIdpCounts {
  discovery: number;
  jwks: number;
  token: number;
}

export interface LocalIdp {
  /** `http://127.0.0.1:PORT`: the issuer is the server's own origin. */
  readonly issuer: string;
  readonly url: string;
  readonly discoveryUrl: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  /** Requests received per endpoint, faulted ones included. */
  readonly counts: Readonly<LocalIdpCounts>;
  /**
   * Runs the client_credentials grant with the client's registered auth method and
   * returns the access token; a string target is sent as `audience`.
   */
  clientCredentialsToken(clientId: string, clientSecret: string, target?: TokenRequestTarget | string): Promise<string>;
  /** The next `times` token requests fail with `status` and an OAuth error body. */
  failNext(times?: FaultTimes, status?: number): void;
  /** The next `times` token requests get no answer until the server closes. */
  hangNext(times?: FaultTimes): void;
  clearFaults(): void;
  close(): Promise<void>;
}

type TokenFault = { readonly kind: 'fail'; readonly status: number } | { readonly kind: 'hang' };

const DISCOVERY_PATH = '/.well-known/openid-configuration';
const TOKEN_PATH = '/token';
const JWKS_PATH = '/jwks';
/** RFC 8707 resource indicators must be absolute URIs; plain audiences ride in this URN. */
const AUDIENCE_URN = 'urn:voidkey:audience:';

/**
 * A real oidc-provider instance issuing RS256 JWT access tokens through the
 * client_credentials grant: `sub` = client id, `aud` = the requested audience.
 */
export async function startLocalIdp(options: LocalIdpOptions): Promise<LocalIdp> {
  const counts: LocalIdpCounts = { discovery: 0, jwks: 0, token: 0 };
  const faults = new FaultQueue<TokenFault>();
  const clients = new Map(options.clients.map((client) => [client.clientId, client]));
  // The issuer URL holds the port, so the provider is created after the server listens.
  const loopback = await listenOnLoopback();
  const issuer = loopback.url;
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      // Keys by URI: oidc-provider then parses them itself (see clientJwksPath).
      ...(client.authMethod === 'private_key_jwt' ? { jwks_uri: `${issuer}${clientJwksPath(client.clientId)}` } : { client_secret: client.clientSecret }),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: client.authMethod ?? 'client_secret_basic',
    })),
    jwks: { keys: [await signingJwk()] },
    clientBasedCORS: () => false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx: KoaContextWithOIDC) => defaultResource(ctx, options.defaultAudience),
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, resource: string) => ({
          scope: '',
          audience: resource.startsWith(AUDIENCE_URN) ? decodeURIComponent(resource.slice(AUDIENCE_URN.length)) : resource,
          accessTokenTTL: options.tokenTtlSeconds ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx, token) => (token.clientId === undefined ? undefined : clients.get(token.clientId)?.claims),
    ttl: { ClientCredentials: options.tokenTtlSeconds ?? 300 },
  });
  const handler = provider.callback();
  loopback.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const keyed = options.clients.find((client) => client.jwks !== undefined && path === clientJwksPath(client.clientId));
    if (keyed) {
      req.resume();
      sendJson(res, 200, keyed.jwks);
      return;
    }
    if (path === DISCOVERY_PATH) counts.discovery += 1;
    else if (path === JWKS_PATH) counts.jwks += 1;
    else if (path === TOKEN_PATH) {
      counts.token += 1;
      const fault = faults.take();
      if (fault !== undefined) {
        req.resume();
        // 'hang': never answered; close() destroys the socket.
        if (fault.kind === 'fail') sendJson(res, fault.status, faultBody(fault.status), { 'cache-control': 'no-store' });
        return;
      }
    }
    handler(req, res);
  });

  return {
    issuer,
    url: loopback.url,
    discoveryUrl: `${issuer}${DISCOVERY_PATH}`,
    tokenEndpoint: `${issuer}${TOKEN_PATH}`,
    jwksUri: `${issuer}${JWKS_PATH}`,
    counts,
    async clientCredentialsToken(clientId, clientSecret, target = {}) {
      const { audience, resource } = typeof target === 'string' ? { audience: target, resource: undefined } : target;
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      if (audience !== undefined) body.set('audience', audience);
      if (resource !== undefined) body.set('resource', resource);
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if ((clients.get(clientId)?.authMethod ?? 'client_secret_basic') === 'client_secret_basic') {
        headers.authorization = basicAuth(clientId, clientSecret);
      } else {
        body.set('client_id', clientId);
        body.set('client_secret', clientSecret);
      }
      const response = await fetch(`${issuer}${TOKEN_PATH}`, { method: 'POST', headers, body });
      const json = (await response.json()) as { access_token?: unknown };
      if (!response.ok || typeof json.access_token !== 'string') {
        throw new Error(`token request failed with ${response.status}: ${JSON.stringify(json)}`);
      }
      return json.access_token;
    },
    failNext(times = 1, status = 503) {
      faults.add({ kind: 'fail', status }, times);
    },
    hangNext(times = 1) {
      faults.add({ kind: 'hang' }, times);
    },
    clearFaults() {
      faults.clear();
    },
    close: () => loopback.close(),
  };
}

/** HTTP Basic credentials as RFC 6749 §2.3.1 encodes them (form-urlencoded, then base64). */
export function basicAuth(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

function defaultResource(ctx: KoaContextWithOIDC, defaultAudience: string | undefined): string {
  const requested = ctx.oidc.body?.audience;
  const audience = typeof requested === 'string' && requested !== '' ? requested : defaultAudience;
  if (audience === undefined) {
    throw new errors.InvalidTarget('an audience or resource parameter is required');
  }
  return URL.canParse(audience) ? audience : `${AUDIENCE_URN}${encodeURIComponent(audience)}`;
}

function faultBody(status: number): { error: string; error_description: string } {
  const error = status >= 500 ? (status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request';
  return { error, error_description: `injected fault (${status})` };
}

async function signingJwk(): Promise<object> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `local-idp-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' };
}

/**
 * oidc-provider warns on every start when it falls back to its own development adapter;
 * JWT access tokens are not stored anyway, so a plain Map does.
 */
function memoryAdapter(): (name: string) => Adapter {
  const store = new Map<string, AdapterPayload>();
  return (name) => {
    const key = (id: string) => `${name}:${id}`;
    const findBy = (field: string, value: string) =>
      Promise.resolve([...store.entries()].find(([k, payload]) => k.startsWith(`${name}:`) && payload[field] === value)?.[1]);
    return {
      upsert: (id, payload) => {
        store.set(key(id), payload);
        return Promise.resolve();
      },
      find: (id) => Promise.resolve(store.get(key(id))),
      findByUserCode: (userCode) => findBy('userCode', userCode),
      findByUid: (uid) => findBy('uid', uid),
      consume: (id) => {
        const payload = store.get(key(id));
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      },
      destroy: (id) => {
        store.delete(key(id));
        return Promise.resolve();
      },
      revokeByGrantId: (grantId) => {
        for (const [k, payload] of store) if (payload.grantId === grantId) store.delete(k);
        return Promise.resolve();
      },
    };
  };
}

/**
 * Where a private_key_jwt client's public keys are served. Inline `jwks` would be simpler,
 * but oidc-provider structuredClones static client metadata and then checks its nested
 * objects by `constructor === Object`; under Jest's separate realm that check fails, so
 * the keys are fetched (and parsed by oidc-provider) instead.
 */
function clientJwksPath(clientId: string): string {
  return `/client-jwks/${encodeURIComponent(clientId)}`;
}
