import { EmbeddedJWK, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { GithubActionsClaims } from './ci-claims';
import { startTokenIssuer, type TokenIssuer } from './token-issuer';

describe('startTokenIssuer', () => {
  let issuer: TokenIssuer;

  beforeAll(async () => {
    issuer = await startTokenIssuer({ audience: 'https://broker.example.com' });
  });
  afterAll(() => issuer.close());
  afterEach(() => {
    issuer.clearFaults();
    issuer.setJwks(undefined);
  });

  /** A fresh key set per call, so no cache hides what the issuer serves now. */
  const verify = (token: string, target: TokenIssuer = issuer, timeoutDuration = 2_000) =>
    jwtVerify(token, createRemoteJWKSet(new URL(target.jwksUri), { timeoutDuration }), {
      issuer: target.issuer,
      audience: target.audience,
    });

  const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    throw new Error('expected a rejection');
  };

  it('serves discovery and a JWKS holding the active public key only', async () => {
    const discovery = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
    const jwks = (await (await fetch(issuer.jwksUri)).json()) as { keys: Record<string, unknown>[] };

    expect(discovery).toMatchObject({ issuer: issuer.issuer, jwks_uri: issuer.jwksUri, id_token_signing_alg_values_supported: ['RS256'] });
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', kid: issuer.activeKey.kid, alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  describe('GitHub Actions tokens', () => {
    it('verify with jose and carry the documented claims, all strings', async () => {
      const token = await issuer.githubToken();
      const { payload, protectedHeader } = await verify(token);

      expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: issuer.activeKey.kid, typ: 'JWT' });
      expect(payload).toMatchObject({
        iss: issuer.issuer,
        aud: 'https://broker.example.com',
        sub: 'repo:acme/app:ref:refs/heads/main',
        repository: 'acme/app',
        repository_owner: 'acme',
        ref: 'refs/heads/main',
        ref_type: 'branch',
        event_name: 'push',
        runner_environment: 'github-hosted',
      });
      for (const claim of ['repository_id', 'repository_owner_id', 'actor_id', 'run_id', 'run_number', 'run_attempt', 'sha', 'job_workflow_ref']) {
        expect(typeof payload[claim]).toBe('string');
      }
      expect(payload.exp! - payload.iat!).toBe(300);
      expect(payload.nbf!).toBeLessThan(payload.iat!);
      expect(payload).not.toHaveProperty('environment');
    });

    it.each<[Record<string, unknown>, string]>([
      [{ environment: 'production' }, 'repo:acme/app:environment:production'],
      [{ event_name: 'pull_request' }, 'repo:acme/app:pull_request'],
      [{ ref: 'refs/tags/v1.2.0' }, 'repo:acme/app:ref:refs/tags/v1.2.0'],
      [{ repository: 'other/svc', ref: 'refs/heads/dev' }, 'repo:other/svc:ref:refs/heads/dev'],
      [{ sub: 'repo:acme@1000001/app@2000002:ref:refs/heads/main' }, 'repo:acme@1000001/app@2000002:ref:refs/heads/main'],
    ])('derive sub from %j', async (overrides, sub) => {
      const { payload } = await verify(await issuer.githubToken(overrides));
      expect(payload.sub).toBe(sub);
    });

    it('derive owner and ref type from the overrides, and drop claims set to undefined', () => {
      const claims = issuer.githubClaims({ repository: 'other/svc', ref: 'refs/tags/v1', actor: undefined });
      expect(claims).toMatchObject({ repository_owner: 'other', ref_type: 'tag', job_workflow_ref: 'other/svc/.github/workflows/deploy.yml@refs/tags/v1' });
      expect(claims).not.toHaveProperty('actor');
    });
  });

  it('makes GitLab CI tokens with the documented claim types', async () => {
    const { payload } = await verify(await issuer.gitlabToken({ project_path: 'platform/infra', ref: 'v2', ref_type: 'tag', environment: 'production' }));

    expect(payload).toMatchObject({
      sub: 'project_path:platform/infra:ref_type:tag:ref:v2',
      project_path: 'platform/infra',
      namespace_path: 'platform',
      ref_path: 'refs/tags/v2',
      ref_protected: 'true',
      environment: 'production',
      deployment_tier: 'production',
      groups_direct: ['platform'],
    });
    expect(typeof payload.project_id).toBe('string');
    expect(typeof payload.runner_id).toBe('number');
  });

  it('makes Kubernetes service-account tokens, served from /openid/v1/jwks', async () => {
    const k8s = await startTokenIssuer({ jwksPath: '/openid/v1/jwks', audience: 'sts.amazonaws.com' });
    try {
      const token = await k8s.kubernetesToken({ 'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'api', uid: 'u-1' } } });
      const { payload } = await verify(token, k8s);
      const discovery = (await (await fetch(k8s.discoveryUrl)).json()) as { jwks_uri: string };

      expect(discovery.jwks_uri).toBe(`${k8s.url}/openid/v1/jwks`);
      expect(payload).toMatchObject({
        sub: 'system:serviceaccount:prod:api',
        aud: ['sts.amazonaws.com'],
        'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'api', uid: 'u-1' }, pod: { name: expect.any(String) } },
      });
      expect(payload.exp! - payload.iat!).toBe(3600);
    } finally {
      await k8s.close();
    }
  });

  it('takes an issuer override and a path prefix', async () => {
    const custom = await startTokenIssuer({ issuer: 'https://token.actions.githubusercontent.com', issuerPath: '/tenant' });
    try {
      const discovery = (await (await fetch(custom.discoveryUrl)).json()) as { issuer: string; jwks_uri: string };
      expect(custom.discoveryUrl).toBe(`${custom.url}/tenant/.well-known/openid-configuration`);
      expect(discovery).toEqual(expect.objectContaining({ issuer: 'https://token.actions.githubusercontent.com', jwks_uri: `${custom.url}/tenant/.well-known/jwks` }));
      await expect(verify(await custom.githubToken(), custom)).resolves.toMatchObject({ payload: { iss: 'https://token.actions.githubusercontent.com' } });
    } finally {
      await custom.close();
    }
  });

  it('signs arbitrary claims, with time options for expired and future tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verify(await issuer.sign({ sub: 'x' }))).resolves.toMatchObject({ payload: { sub: 'x', iss: issuer.issuer } });

    expect(await rejection(verify(await issuer.sign({ sub: 'x' }, { iat: now - 600, expiresIn: 300 })))).toBeInstanceOf(errors.JWTExpired);
    expect(await rejection(verify(await issuer.sign({ sub: 'x' }, { notBefore: now + 600 })))).toBeInstanceOf(errors.JWTClaimValidationFailed);
    const noExp = await issuer.sign({ sub: 'x', exp: undefined });
    expect(JSON.parse(Buffer.from(noExp.split('.')[1], 'base64url').toString())).not.toHaveProperty('exp');
  });

  it('rotates: the new key verifies, tokens from the old one no longer do', async () => {
    const old = await issuer.githubToken();
    await expect(verify(old)).resolves.toBeDefined();
    const previous = issuer.activeKey;

    const next = await issuer.rotate();

    expect(issuer.keys).toEqual([next]);
    expect(next.kid).not.toBe(previous.kid);
    await expect(verify(await issuer.githubToken())).resolves.toBeDefined();
    expect(await rejection(verify(old))).toBeInstanceOf(errors.JWKSNoMatchingKey);
  });

  it('adds and removes keys; an unpublished key does not verify', async () => {
    const added = await issuer.addKey({ alg: 'ES256' });
    const byAdded = await issuer.githubToken({}, { key: added });
    await expect(verify(byAdded)).resolves.toMatchObject({ protectedHeader: { alg: 'ES256', kid: added.kid } });

    issuer.removeKey(added.kid);
    expect(await rejection(verify(byAdded))).toBeInstanceOf(errors.JWKSNoMatchingKey);

    const stranger = await issuer.generateKey({ kid: issuer.activeKey.kid });
    await expect(verify(await issuer.githubToken())).resolves.toBeDefined();
    expect(await rejection(verify(await issuer.githubToken({}, { key: stranger })))).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('serves a custom JWKS body until reset', async () => {
    const token = await issuer.githubToken();
    issuer.setJwks({ keys: [] });
    expect(await rejection(verify(token))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    issuer.setJwks(undefined);
    await expect(verify(token)).resolves.toBeDefined();
  });

  it('fails, delays and hangs JWKS requests on demand, and counts them', async () => {
    const token = await issuer.githubToken();
    const before = issuer.counts.jwks;

    issuer.failJwks(1, 503);
    expect(await rejection(verify(token))).toBeInstanceOf(errors.JOSEError);
    await expect(verify(token)).resolves.toBeDefined();

    issuer.delayJwks(150);
    const started = Date.now();
    await expect(verify(token)).resolves.toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    issuer.hangJwks();
    expect(await rejection(verify(token, issuer, 200))).toBeInstanceOf(errors.JWKSTimeout);
    issuer.clearFaults();
    await expect(verify(token)).resolves.toBeDefined();

    expect(issuer.counts.jwks - before).toBe(5);
  });

  it('fails discovery on demand', async () => {
    issuer.failDiscovery(1, 500);
    expect((await fetch(issuer.discoveryUrl)).status).toBe(500);
    expect((await fetch(issuer.discoveryUrl)).status).toBe(200);
  });

  it('serves a changed or raw discovery document until reset', async () => {
    const real = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
    expect(real).toMatchObject({ issuer: issuer.issuer, jwks_uri: issuer.jwksUri });
    issuer.setDiscovery({ jwks_uri: undefined, issuer: 'https://elsewhere.example.com' });
    const changed = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
    expect(changed).toEqual({ ...real, jwks_uri: undefined, issuer: 'https://elsewhere.example.com' });
    expect('jwks_uri' in changed).toBe(false);
    issuer.setDiscovery('<html>not json</html>');
    expect(await (await fetch(issuer.discoveryUrl)).text()).toBe('<html>not json</html>');
    issuer.setDiscovery(undefined);
    expect(await (await fetch(issuer.discoveryUrl)).json()).toEqual(real);
  });

  describe('forged tokens (each next to a correctly signed control)', () => {
    let claims: GithubActionsClaims;
    beforeAll(() => {
      claims = issuer.githubClaims();
    });

    it('control: the same claims, properly signed, verify', async () => {
      await expect(verify(await issuer.sign(claims))).resolves.toBeDefined();
    });

    it('alg "none" with an empty signature is rejected', async () => {
      const token = issuer.unsignedToken(claims);
      expect(decodeProtectedHeader(token).alg).toBe('none');
      expect(token.endsWith('.')).toBe(true);
      expect(await rejection(verify(token))).toBeInstanceOf(errors.JOSEError);
    });

    it('HS256 keyed with the public key (alg confusion) is rejected', async () => {
      const token = await issuer.hmacToken(claims);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256', kid: issuer.activeKey.kid });
      expect(await rejection(verify(token))).toBeInstanceOf(errors.JOSEError);
    });

    it('a self-embedded jwk verifies only for a verifier that trusts the header', async () => {
      const token = await issuer.embeddedJwkToken(claims);
      expect(decodeProtectedHeader(token)).toMatchObject({ kid: issuer.activeKey.kid, jwk: { kty: 'RSA' } });

      await expect(jwtVerify(token, EmbeddedJWK)).resolves.toBeDefined();
      expect(await rejection(verify(token))).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    });
  });
});
