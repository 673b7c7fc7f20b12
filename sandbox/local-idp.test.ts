import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { basicAuth, startLocalIdp, type LocalIdp } from './local-idp';

describe('startLocalIdp (oidc-provider, client_credentials → JWT access tokens)', () => {
  let idp: LocalIdp;

  beforeAll(async () => {
    idp = await startLocalIdp({
      clients: [
        { clientId: 'broker', clientSecret: 'broker-secret', claims: { tenant: 'acme' } },
        { clientId: 'poster', clientSecret: 'poster-secret', authMethod: 'client_secret_post' },
      ],
      tokenTtlSeconds: 120,
    });
  });
  afterAll(() => idp.close());
  afterEach(() => idp.clearFaults());

  const postToken = (fields: Record<string, string>, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(idp.tokenEndpoint, {
      signal,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...fields }),
    });

  const verify = (token: string, audience: string) =>
    jwtVerify(token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience, algorithms: ['RS256'] });

  it('publishes a discovery document that points at its own endpoints', async () => {
    const response = await fetch(idp.discoveryUrl);
    const discovery = (await response.json()) as Record<string, unknown>;

    expect(discovery).toMatchObject({ issuer: idp.issuer, token_endpoint: idp.tokenEndpoint, jwks_uri: idp.jwksUri });
    expect(discovery.grant_types_supported).toContain('client_credentials');
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
  });

  it('issues an RS256 JWT for the Voidkey-style `audience` parameter, verifiable with its JWKS', async () => {
    const response = await postToken({ audience: 'voidkey-broker' }, { authorization: basicAuth('broker', 'broker-secret') });
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 120 });
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const { payload } = await verify(body.access_token, 'voidkey-broker');
    expect(payload).toMatchObject({ sub: 'broker', client_id: 'broker', aud: 'voidkey-broker', iss: idp.issuer, tenant: 'acme' });
    expect(payload.exp! - payload.iat!).toBe(120);
  });

  it.each([
    ['resource', 'https://sts.example.com/'],
    ['audience', 'https://broker.example.com'],
    ['audience', 'sts.amazonaws.com'],
  ])('takes the audience from `%s=%s`', async (param, value) => {
    const response = await postToken({ [param]: value }, { authorization: basicAuth('broker', 'broker-secret') });
    const { access_token: token } = (await response.json()) as { access_token: string };

    const { payload } = await verify(token, value);
    expect(payload.aud).toBe(value);
  });

  it('rejects a wrong secret, and accepts the right one', async () => {
    const good = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') });
    const bad = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'wrong') });

    expect(good.status).toBe(200);
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('accepts client_secret_basic and client_secret_post alike, but not both at once', async () => {
    const post = await postToken({ audience: 'a', client_id: 'broker', client_secret: 'broker-secret' });
    const basic = await postToken({ audience: 'a' }, { authorization: basicAuth('poster', 'poster-secret') });
    const both = await postToken(
      { audience: 'a', client_id: 'broker', client_secret: 'broker-secret' },
      { authorization: basicAuth('broker', 'broker-secret') },
    );

    expect([post.status, basic.status]).toEqual([200, 200]);
    expect(both.status).toBe(400);
  });

  it('requires an audience when no default is configured, and uses the default when one is', async () => {
    const missing = await postToken({}, { authorization: basicAuth('broker', 'broker-secret') });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_target' });

    const withDefault = await startLocalIdp({ clients: [{ clientId: 'c', clientSecret: 's' }], defaultAudience: 'fallback' });
    try {
      const token = await withDefault.clientCredentialsToken('c', 's');
      expect(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())).toMatchObject({ aud: 'fallback', sub: 'c' });
    } finally {
      await withDefault.close();
    }
  });

  it('gets tokens through clientCredentialsToken with either auth method', async () => {
    const basic = await idp.clientCredentialsToken('broker', 'broker-secret', 'x');
    const post = await idp.clientCredentialsToken('poster', 'poster-secret', { resource: 'https://y.example/' });

    await expect(verify(basic, 'x')).resolves.toMatchObject({ payload: { sub: 'broker' } });
    await expect(verify(post, 'https://y.example/')).resolves.toMatchObject({ payload: { sub: 'poster' } });
    await expect(idp.clientCredentialsToken('broker', 'nope', { audience: 'x' })).rejects.toThrow(/401/);
  });

  it('counts requests per endpoint', async () => {
    const before = { ...idp.counts };
    await fetch(idp.discoveryUrl);
    const token = await idp.clientCredentialsToken('broker', 'broker-secret', { audience: 'z' });
    await verify(token, 'z');

    expect(idp.counts.discovery - before.discovery).toBe(1);
    expect(idp.counts.token - before.token).toBe(1);
    expect(idp.counts.jwks - before.jwks).toBe(1);
  });

  it('fails the next token requests on demand, then recovers', async () => {
    idp.failNext(2, 503);
    const first = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') });
    const second = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') });
    const third = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') });

    expect([first.status, second.status, third.status]).toEqual([503, 503, 200]);
    expect(await first.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });

  it('hangs the next token request on demand: no answer, then the next one is served', async () => {
    const before = idp.counts.token;
    expect((await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') })).status).toBe(200); // control
    idp.hangNext(1);
    const hung = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') }, AbortSignal.timeout(300)).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    expect(hung).toBe('TimeoutError');
    const next = await postToken({ audience: 'a' }, { authorization: basicAuth('broker', 'broker-secret') });
    expect(next.status).toBe(200);
    expect(idp.counts.token - before).toBe(3);
  });
});
