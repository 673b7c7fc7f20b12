// oidc-provider ships no type declarations; this covers the part the sandbox uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcClient {
    readonly clientId: string;
  }

  export interface KoaContextWithOIDC {
    readonly oidc: {
      /** The parsed request body (token endpoint: the form fields). */
      readonly body?: Readonly<Record<string, unknown>>;
      readonly params?: Readonly<Record<string, unknown>>;
      readonly client?: OidcClient;
    };
  }

  export interface ResourceServerInfo {
    scope: string;
    audience?: string;
    accessTokenTTL?: number;
    accessTokenFormat?: 'opaque' | 'jwt';
    jwt?: { sign?: { alg?: string; kid?: string } };
  }

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    grant_types?: string[];
    response_types?: string[];
    redirect_uris?: string[];
    token_endpoint_auth_method?: string;
    [key: string]: unknown;
  }

  export interface AdapterPayload {
    [key: string]: unknown;
  }

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface Configuration {
    adapter?: (name: string) => Adapter;
    clients?: ClientMetadata[];
    jwks?: { keys: object[] };
    features?: Record<string, unknown>;
    ttl?: Record<string, number | ((...args: never[]) => number)>;
    clientBasedCORS?: (ctx: KoaContextWithOIDC, origin: string, client: OidcClient) => boolean;
    extraTokenClaims?: (ctx: KoaContextWithOIDC, token: { readonly clientId?: string }) => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;
    [key: string]: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export const errors: {
    readonly InvalidTarget: new (description?: string) => Error;
  };

  export default Provider;
}
