import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CompactSign,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import {
  applyOverrides,
  githubActionsClaims,
  gitlabCiClaims,
  kubernetesClaims,
  type ClaimContext,
  type ClaimOverrides,
  type GithubActionsClaims,
  type GitlabCiClaims,
  type KubernetesClaims,
  type KubernetesOverrides,
} from './ci-claims';
import { FaultQueue, type FaultTimes } from './fault-queue';
import { listenOnLoopback, sendJson } from './loopback-server';

export type SigningAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';

export interface IssuerKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** As published in the JWKS: `kid`, `alg`, `use: "sig"`. */
  readonly publicJwk: JWK;
}

export interface KeyOptions {
  readonly alg?: SigningAlg;
  /** Default: the key's RFC 7638 thumbprint. */
  readonly kid?: string;
}

export interface TokenIssuerOptions extends KeyOptions {
  /** The `iss` claim and the discovery `issuer`; default: the server's own URL plus `issuerPath`. */
  readonly issuer?: string;
  /** Serve discovery under this path prefix (e.g. `/realms/ci`); default none. */
  readonly issuerPath?: string;
  /** Where the JWKS is served (GitHub `/.well-known/jwks`, Kubernetes `/openid/v1/jwks`). */
  readonly jwksPath?: string;
  /** Default `aud` for the CI-shaped tokens and `sign()`. */
  readonly audience?: string;
}

export interface SignOptions {
  /** Merged over `{alg, kid, typ: "JWT"}`; `undefined` removes a parameter. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Sign with this key instead of the active one (e.g. one from `generateKey()`, not published). */
  readonly key?: IssuerKey;
  /** Epoch seconds; default now. */
  readonly iat?: number;
  /** Seconds after `iat` (negative for an expired token); default the profile's lifetime, 300 for `sign()`. */
  readonly expiresIn?: number;
  /** Epoch seconds for `nbf`; default the profile's value, none for `sign()`. */
  readonly notBefore?: number;
}

export type JwksFault =
  | { readonly kind: 'fail'; readonly status: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'delay'; readonly ms: number };

export interface TokenIssuer {
  /** The server origin, `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly issuer: string;
  readonly discoveryUrl: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** The key `sign()` uses by default. */
  readonly activeKey: IssuerKey;
  /** The keys published in the JWKS. */
  readonly keys: readonly IssuerKey[];
  readonly counts: Readonly<{ discovery: number; jwks: number }>;

  sign(claims?: object, options?: SignOptions): Promise<string>;
  githubClaims(overrides?: ClaimOverrides<GithubActionsClaims>, options?: SignOptions): GithubActionsClaims;
  githubToken(overrides?: ClaimOverrides<GithubActionsClaims>, options?: SignOptions): Promise<string>;
  gitlabClaims(overrides?: ClaimOverrides<GitlabCiClaims>, options?: SignOptions): GitlabCiClaims;
  gitlabToken(overrides?: ClaimOverrides<GitlabCiClaims>, options?: SignOptions): Promise<string>;
  kubernetesClaims(overrides?: KubernetesOverrides, options?: SignOptions): KubernetesClaims;
  kubernetesToken(overrides?: KubernetesOverrides, options?: SignOptions): Promise<string>;

  /** `alg: none`, empty signature. Default claims: a GitHub Actions token's. */
  unsignedToken(claims?: object): string;
  /** HS256 over the claims; the default secret is the active key's SPKI PEM (the alg-confusion attack). */
  hmacToken(claims?: object, secret?: string | Uint8Array): Promise<string>;
  /** Signed by a fresh key that the header carries as `jwk`, with the active `kid`. */
  embeddedJwkToken(claims?: object): Promise<string>;

  /** A new key that is not published. */
  generateKey(options?: KeyOptions): Promise<IssuerKey>;
  /** Publishes a new key; it signs by default only when `activate` is set. */
  addKey(options?: KeyOptions & { readonly activate?: boolean }): Promise<IssuerKey>;
  removeKey(kid: string): void;
  /** A new active key replaces every published one. */
  rotate(options?: KeyOptions): Promise<IssuerKey>;
  /** Serve this body at the JWKS URL instead of the keys (e.g. `{keys: []}`); `undefined` restores. */
  setJwks(body: unknown): void;
  /**
   * Serve this discovery document instead of the real one: an object is merged over it
   * (`undefined` members removed, e.g. `{jwks_uri: undefined}`), a string is sent as the
   * raw body; `undefined` restores.
   */
  setDiscovery(document: Readonly<Record<string, unknown>> | string | undefined): void;

  failJwks(times?: FaultTimes, status?: number): void;
  /** JWKS requests get no answer until the server closes. */
  hangJwks(times?: FaultTimes): void;
  delayJwks(ms: number, times?: FaultTimes): void;
  failDiscovery(times?: FaultTimes, status?: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** An OIDC token issuer on loopback: discovery, JWKS with real keys, and a token forge. */
export async function startTokenIssuer(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const issuerPath = options.issuerPath ?? '';
  const discoveryPath = `${issuerPath}/.well-known/openid-configuration`;
  const jwksPath = `${issuerPath}${options.jwksPath ?? '/.well-known/jwks'}`;
  const counts = { discovery: 0, jwks: 0 };
  const jwksFaults = new FaultQueue<JwksFault>();
  const discoveryFaults = new FaultQueue<number>();
  let keys: IssuerKey[] = [await createKey(options)];
  let activeKey = keys[0];
  let customJwks: unknown;
  let customDiscovery: Readonly<Record<string, unknown>> | string | undefined;
  const loopback = await listenOnLoopback();
  const issuer = options.issuer ?? `${loopback.url}${issuerPath}`;
  const jwksUri = `${loopback.url}${jwksPath}`;
  const audience = options.audience ?? 'https://broker.example.com';

  const serveJwks = (res: ServerResponse): void => {
    sendJson(res, 200, customJwks ?? { keys: keys.map((key) => key.publicJwk) });
  };

  loopback.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'method not allowed' });
    } else if (path === discoveryPath) {
      counts.discovery += 1;
      const status = discoveryFaults.take();
      if (status !== undefined) sendJson(res, status, { error: `injected fault (${status})` });
      else if (typeof customDiscovery === 'string') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(customDiscovery);
      } else sendJson(res, 200, applyOverrides(discoveryDocument(issuer, jwksUri, activeKey.alg), customDiscovery ?? {}));
    } else if (path === jwksPath) {
      counts.jwks += 1;
      const fault = jwksFaults.take();
      if (fault === undefined) serveJwks(res);
      else if (fault.kind === 'fail') sendJson(res, fault.status, { error: `injected fault (${fault.status})` });
      else if (fault.kind === 'delay') setTimeout(() => serveJwks(res), fault.ms).unref();
      // 'hang': never answered; close() destroys the socket.
    } else {
      sendJson(res, 404, { error: 'not found' });
    }
  });

  const context = (signOptions: SignOptions = {}): ClaimContext => ({
    issuer,
    audience,
    iat: signOptions.iat ?? nowSeconds(),
    expiresIn: signOptions.expiresIn,
    notBefore: signOptions.notBefore,
  });

  const signWith = (claims: object, signOptions: SignOptions = {}): Promise<string> => {
    const key = signOptions.key ?? activeKey;
    const header = applyOverrides({ alg: key.alg, kid: key.kid, typ: 'JWT' }, signOptions.header ?? {});
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader(header as { alg: string })
      .sign(key.privateKey);
  };

  const issuerApi: TokenIssuer = {
    url: loopback.url,
    issuer,
    discoveryUrl: `${loopback.url}${discoveryPath}`,
    jwksUri,
    audience,
    get activeKey() {
      return activeKey;
    },
    get keys() {
      return keys;
    },
    counts,

    sign(claims = {}, signOptions = {}) {
      const iat = signOptions.iat ?? nowSeconds();
      const defaults: JWTPayload = { iss: issuer, aud: audience, iat, exp: iat + (signOptions.expiresIn ?? 300) };
      if (signOptions.notBefore !== undefined) defaults.nbf = signOptions.notBefore;
      return signWith(applyOverrides(defaults, claims), signOptions);
    },
    githubClaims: (overrides, signOptions) => githubActionsClaims(context(signOptions), overrides),
    githubToken: (overrides, signOptions) => signWith(githubActionsClaims(context(signOptions), overrides), signOptions),
    gitlabClaims: (overrides, signOptions) => gitlabCiClaims(context(signOptions), overrides),
    gitlabToken: (overrides, signOptions) => signWith(gitlabCiClaims(context(signOptions), overrides), signOptions),
    kubernetesClaims: (overrides, signOptions) => kubernetesClaims(context(signOptions), overrides),
    kubernetesToken: (overrides, signOptions) => signWith(kubernetesClaims(context(signOptions), overrides), signOptions),

    unsignedToken(claims = githubActionsClaims(context())) {
      return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
    },
    async hmacToken(claims = githubActionsClaims(context()), secret) {
      const key = secret ?? (await exportSPKI(activeKey.publicKey));
      const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
      return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: activeKey.kid })
        .sign(bytes);
    },
    async embeddedJwkToken(claims = githubActionsClaims(context())) {
      const attacker = await createKey({ alg: activeKey.alg });
      const jwk = { ...attacker.publicJwk, kid: undefined };
      return signWith(claims, { key: attacker, header: { kid: activeKey.kid, jwk } });
    },

    generateKey: (keyOptions = {}) => createKey({ alg: activeKey.alg, ...keyOptions }),
    async addKey(keyOptions = {}) {
      const key = await createKey({ alg: activeKey.alg, ...keyOptions });
      keys = [...keys, key];
      if (keyOptions.activate === true) activeKey = key;
      return key;
    },
    removeKey(kid) {
      keys = keys.filter((key) => key.kid !== kid);
    },
    async rotate(keyOptions = {}) {
      const key = await createKey({ alg: activeKey.alg, ...keyOptions });
      keys = [key];
      activeKey = key;
      return key;
    },
    setJwks(body) {
      customJwks = body;
    },
    setDiscovery(document) {
      customDiscovery = document;
    },

    failJwks(times = 1, status = 500) {
      jwksFaults.add({ kind: 'fail', status }, times);
    },
    hangJwks(times = 'always') {
      jwksFaults.add({ kind: 'hang' }, times);
    },
    delayJwks(ms, times = 1) {
      jwksFaults.add({ kind: 'delay', ms }, times);
    },
    failDiscovery(times = 1, status = 500) {
      discoveryFaults.add(status, times);
    },
    clearFaults() {
      jwksFaults.clear();
      discoveryFaults.clear();
    },
    close: () => loopback.close(),
  };
  return issuerApi;
}

async function createKey(options: KeyOptions): Promise<IssuerKey> {
  const alg = options.alg ?? 'RS256';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = options.kid ?? (await calculateJwkThumbprint(jwk));
  return { kid, alg, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

function discoveryDocument(issuer: string, jwksUri: string, alg: SigningAlg): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: jwksUri,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public', 'pairwise'],
    id_token_signing_alg_values_supported: [alg],
    claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf'],
    scopes_supported: ['openid'],
  };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
