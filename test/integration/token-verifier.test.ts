import { webcrypto } from 'node:crypto';
import { outcomeOf } from '../support/outcomes';
import { DEFAULT_SETTINGS, IdentityMatcher, TokenVerifier, type ClientIdpConfig } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

const settings = { ...DEFAULT_SETTINGS, allowHttpLoopback: true };

describe('TokenVerifier against a real issuer', () => {
  let issuer: TokenIssuer;
  let other: TokenIssuer;
  const http = new NodeHttpClient();
  let now = Date.now();
  const clock = () => now;

  beforeAll(async () => {
    issuer = await startTokenIssuer();
    other = await startTokenIssuer();
  });
  afterAll(async () => {
    await issuer.close();
    await other.close();
    http.close();
  });
  beforeEach(() => {
    now = Date.now();
    issuer.clearFaults();
  });

  const idp = (overrides: Partial<ClientIdpConfig> = {}): ClientIdpConfig => ({
    name: 'gh',
    issuer: issuer.issuer,
    audience: issuer.audience,
    jwksUri: issuer.jwksUri,
    algorithms: ['RS256'],
    ...overrides,
  });
  const verifier = (overrides: Partial<ClientIdpConfig> = {}) => new TokenVerifier([idp(overrides)], settings, { http, clock });


  /** Signs a payload exactly as written (a JSON library would write numbers its own way). */
  async function signText(payload: string): Promise<string> {
    const b64 = (bytes: string | Uint8Array) => Buffer.from(bytes).toString('base64url');
    const input = `${b64(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: issuer.activeKey.kid }))}.${b64(payload)}`;
    const signature = await webcrypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, issuer.activeKey.privateKey as webcrypto.CryptoKey, new TextEncoder().encode(input));
    return `${input}.${b64(new Uint8Array(signature))}`;
  }

  it('compares a number claim on the value the issuer wrote, never on its rounded double', async () => {
    const matcher = new IdentityMatcher([{ subject: 'svc', idp: 'gh', claims: { project_id: 100 }, keys: { K: { provider: 'p', outputs: {} } } }]);
    const t = Math.floor(now / 1000);
    const token = (projectId: string, exp = String(t + 300)) =>
      signText(`{"iss":${JSON.stringify(issuer.issuer)},"aud":${JSON.stringify(issuer.audience)},"sub":"svc","iat":${t},"exp":${exp},"project_id":${projectId}}`);
    const keysOf = async (projectId: string) => {
      const verified = await verifier().verify(await token(projectId));
      return [...matcher.match('gh', verified.subject, verified.claims).keys.keys()];
    };
    // Positive controls: the integer, however spelled exactly.
    expect(await keysOf('100')).toEqual(['K']);
    expect(await keysOf('1e2')).toEqual(['K']);
    // JSON.parse reads each of these as 100 (or 2^53); none is the number the condition names.
    expect(await keysOf('100.00000000000000001')).toEqual([]);
    expect(await keysOf('99.999999999999999999')).toEqual([]);
    // An exp the parser would round is no date at all.
    expect(await outcomeOf(verifier().verify(await token('100', `${t + 300}.0000000000000001`)))).toBe('token_claim_invalid');
  });

  it('verifies a GitHub-shaped token and returns its claims (positive control)', async () => {
    const verified = await verifier().verify(await issuer.githubToken());
    expect(verified.subject).toBe('repo:acme/app:ref:refs/heads/main');
    expect(verified.idp.name).toBe('gh');
    expect(verified.claims.repository).toBe('acme/app');
  });

  it('fetches the JWKS once for a cold herd, then serves from cache', async () => {
    const v = verifier();
    const before = issuer.counts.jwks;
    const token = await issuer.githubToken();
    await Promise.all(Array.from({ length: 50 }, () => v.verify(token)));
    await v.verify(token);
    expect(issuer.counts.jwks - before).toBe(1);
  });

  it('finds the JWKS through discovery when jwksUri is absent', async () => {
    const v = verifier({ jwksUri: undefined });
    const discoveries = issuer.counts.discovery;
    await v.verify(await issuer.githubToken());
    expect(issuer.counts.discovery - discoveries).toBe(1);
  });

  it('refuses a token from an unknown issuer without any network call', async () => {
    const v = verifier();
    const before = { ...other.counts };
    expect(await outcomeOf(v.verify(await other.githubToken()))).toBe('issuer_unknown');
    expect(other.counts).toEqual(before);
  });

  it('refuses an expired token, and accepts it within the clock skew', async () => {
    const token = await issuer.githubToken({}, { iat: Math.floor(now / 1000) - 400, expiresIn: 300 });
    expect(await outcomeOf(verifier().verify(token))).toBe('token_expired');
    const recent = await issuer.githubToken({}, { iat: Math.floor(now / 1000) - 310, expiresIn: 300 });
    await expect(verifier().verify(recent)).resolves.toBeDefined();
  });

  it('refuses a token for another audience', async () => {
    await expect(verifier().verify(await issuer.githubToken())).resolves.toBeDefined();
    expect(await outcomeOf(verifier().verify(await issuer.githubToken({ aud: 'sts.amazonaws.com' })))).toBe('audience_mismatch');
  });

  it('refuses a token signed by a key not in the JWKS', async () => {
    const stranger = await issuer.generateKey({ kid: issuer.activeKey.kid });
    await expect(verifier().verify(await issuer.githubToken())).resolves.toBeDefined();
    expect(await outcomeOf(verifier().verify(await issuer.githubToken({}, { key: stranger })))).toBe('signature_invalid');
  });

  it('refuses alg none, HMAC and keys embedded in the token', async () => {
    const claims = issuer.githubClaims();
    await expect(verifier().verify(await issuer.sign(claims))).resolves.toBeDefined();
    expect(await outcomeOf(verifier().verify(issuer.unsignedToken(claims)))).toBe('algorithm_not_allowed');
    expect(await outcomeOf(verifier().verify(await issuer.hmacToken(claims)))).toBe('algorithm_not_allowed');
    expect(await outcomeOf(verifier().verify(await issuer.embeddedJwkToken(claims)))).toBe('token_malformed');
  });

  it('tries every key published under the token\'s kid', async () => {
    const rotated = await startTokenIssuer();
    try {
      const first = rotated.activeKey;
      const second = await rotated.addKey({ kid: first.kid, activate: true });
      const v = new TokenVerifier([{ ...idp(), issuer: rotated.issuer, jwksUri: rotated.jwksUri }], settings, { http, clock });
      // Both keys verify their own tokens (the second used to meet only the first key).
      await expect(v.verify(await rotated.githubToken({}, { key: first }))).resolves.toBeDefined();
      await expect(v.verify(await rotated.githubToken({}, { key: second }))).resolves.toBeDefined();
      const stranger = await rotated.generateKey({ kid: first.kid });
      expect(await outcomeOf(v.verify(await rotated.githubToken({}, { key: stranger })))).toBe('signature_invalid');
      // Without a kid the choice must still be unambiguous: two candidates are none.
      expect(await outcomeOf(v.verify(await rotated.githubToken({}, { key: second, header: { kid: undefined } })))).toBe('key_not_found');
    } finally {
      await rotated.close();
    }
  });

  it.each([
    [undefined, 'ok'],
    ['JWT', 'ok'],
    ['jwt', 'ok'],
    ['application/jwt', 'ok'],
    ['Application/JWT', 'ok'],
    ['id_token+jwt', 'ok'],
    ['application/id_token+JWT', 'ok'],
    ['at+jwt', 'token_type_invalid'],
    ['application/at+jwt', 'token_type_invalid'],
    ['logout+jwt', 'token_type_invalid'],
    ['secevent+jwt', 'token_type_invalid'],
    ['userinfo+jwt', 'token_type_invalid'],
    ['dpop+jwt', 'token_type_invalid'],
    ['JOSE', 'token_type_invalid'],
    [' JWT', 'token_type_invalid'],
    ['', 'token_type_invalid'],
    [42, 'token_type_invalid'],
    [null, 'token_type_invalid'],
  ])('typ %j: %s (RFC 8725 §3.11 explicit typing)', async (typ, outcome) => {
    await expect(verifier().verify(await issuer.githubToken())).resolves.toBeDefined();
    expect(await outcomeOf(verifier().verify(await issuer.githubToken({}, { header: { typ } })))).toBe(outcome);
  });

  it('requires iat', async () => {
    const claims = issuer.githubClaims();
    await expect(verifier().verify(await issuer.sign(claims))).resolves.toBeDefined();
    // `undefined` removes the claim the issuer would add.
    expect(await outcomeOf(verifier().verify(await issuer.sign({ ...claims, iat: undefined })))).toBe('token_claim_invalid');
    expect(await outcomeOf(verifier().verify(await issuer.sign({ ...claims, iat: null })))).toBe('token_claim_invalid');
  });

  it.each(['\n', '\r', '\t', '\0', '\x1b', '\x7f', '\x85', '\u2028', '\u2029', '\ud800'])('refuses a subject holding %j as an invalid claim', async (char) => {
    await expect(verifier().verify(await issuer.githubToken({ sub: 'repo:acme/app:ref:refs/heads/main' }))).resolves.toBeDefined();
    for (const sub of [`repo:acme/app:ref:refs/heads/main${char}`, `repo:acme/app${char}:ref:refs/heads/main`, `${char}repo:acme/app:ref:refs/heads/main`]) {
      expect(await outcomeOf(verifier().verify(await issuer.githubToken({ sub })))).toBe('token_claim_invalid');
    }
  });

  it('refuses a token whose idpName disagrees with its issuer', async () => {
    await expect(verifier().verify(await issuer.githubToken(), 'gh')).resolves.toBeDefined();
    expect(await outcomeOf(verifier().verify(await issuer.githubToken(), 'gitlab'))).toBe('idp_mismatch');
  });

  it('refuses a token larger than the limit before parsing it', async () => {
    const big = await issuer.githubToken({ padding: 'x'.repeat(20_000) });
    expect(await outcomeOf(verifier().verify(big))).toBe('token_too_large');
  });

  it('reports the IdP as unavailable when the JWKS cannot be fetched', async () => {
    issuer.failJwks('always', 500);
    expect(await outcomeOf(verifier().verify(await issuer.githubToken()))).toBe('idp_unavailable');
  });
});
