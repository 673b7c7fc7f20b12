import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

export interface RemoteIssuerOptions {
  /** Skip discovery and read this key set (an uploaded or pinned JWKS URL). */
  readonly jwksUri?: string;
  /** How long a fetched key set is trusted before it is fetched again (jose's default: 10 minutes). */
  readonly cacheMaxAgeMs?: number;
}

/**
 * The keys of a remote OIDC issuer, found the way AWS, GCP and Entra find them: GET
 * `{issuer}/.well-known/openid-configuration`, check its `issuer` is the trusted one, then
 * fetch its `jwks_uri` (an unknown `kid` refetches it). Nothing is ever handed a key.
 */
export function remoteIssuerKeys(issuer: string, options: RemoteIssuerOptions = {}): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const jwks = (uri: string) => createRemoteJWKSet(new URL(uri), { cooldownDuration: 0, timeoutDuration: 2_000, ...(options.cacheMaxAgeMs === undefined ? {} : { cacheMaxAge: options.cacheMaxAgeMs }) });
  const discover = async (): Promise<JWTVerifyGetKey> => {
    if (options.jwksUri !== undefined) return jwks(options.jwksUri);
    const response = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2_000) });
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== issuer) throw new Error(`discovery names issuer ${String(document.issuer)}, not ${issuer}`);
    if (typeof document.jwks_uri !== 'string') throw new Error('discovery has no jwks_uri');
    return jwks(document.jwks_uri);
  };
  return async (header, token) => {
    keys ??= discover().catch((error: unknown) => {
      keys = undefined; // asked again on the next token, as a cloud would
      throw error;
    });
    return (await keys)(header, token);
  };
}
