import { outcomeOf } from '../support/outcomes';
import { createServer, type ServerResponse } from 'node:http';
import { DEFAULT_SETTINGS, TokenVerifier, type ClientIdpConfig } from '../../broker-core';
import { isUsableSigningKey } from '../../broker-core/token/key-set-cache';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';

/** JWKS caching and faults against a real issuer, with a clock the test moves: exact fetch counts. */
describe('JWKS cache under faults', () => {
  const http = new NodeHttpClient();
  let issuer: TokenIssuer;
  let now: number;
  const clock = () => now;
  const settings = { ...DEFAULT_SETTINGS, allowHttpLoopback: true, upstreamTimeoutMs: 300, jwksCacheSeconds: 600, jwksRefetchCooldownSeconds: 30 };

  beforeEach(async () => {
    issuer = await startTokenIssuer();
    now = Date.now();
  });
  afterEach(async () => {
    await issuer.close();
  });
  afterAll(() => http.close());

  const verifier = (overrides: Partial<ClientIdpConfig> = {}) =>
    new TokenVerifier([{ name: 'gh', issuer: issuer.issuer, audience: issuer.audience, jwksUri: issuer.jwksUri, algorithms: ['RS256'], ...overrides }], settings, { http, clock });
  /** Tokens are signed "now" on the test's clock. */
  const token = (options: { key?: Awaited<ReturnType<TokenIssuer['generateKey']>>; kid?: string } = {}) =>
    issuer.githubToken({}, { iat: Math.floor(now / 1000), key: options.key, ...(options.kid ? { header: { kid: options.kid } } : {}) });

  it('a cold herd of 100 concurrent verifications causes one fetch', async () => {
    const v = verifier();
    const t = await token();
    const results = await Promise.all(Array.from({ length: 100 }, () => outcomeOf(v.verify(t))));
    expect(new Set(results)).toEqual(new Set(['ok']));
    expect(issuer.counts.jwks).toBe(1);
  });

  it('an unknown-kid storm causes one refetch per cooldown, then fails fast', async () => {
    const v = verifier();
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    const storm = await Promise.all(Array.from({ length: 50 }, (_, i) => token({ kid: `unknown-${i}` })));
    now += 31_000; // the first load's attempt is older than the cooldown
    const reasons = await Promise.all(storm.map((t) => outcomeOf(v.verify(t))));
    expect(new Set(reasons)).toEqual(new Set(['key_not_found']));
    expect(issuer.counts.jwks).toBe(2);
    await Promise.all(storm.map((t) => outcomeOf(v.verify(t))));
    expect(issuer.counts.jwks).toBe(2);
    now += 31_000;
    expect(await outcomeOf(v.verify(storm[0]!))).toBe('key_not_found');
    expect(issuer.counts.jwks).toBe(3);
  });

  it('follows a rotation with one refetch; removed keys stop working after the refresh', async () => {
    const v = verifier();
    const old = await token();
    expect(await outcomeOf(v.verify(old))).toBe('ok');
    await issuer.rotate();
    now += 31_000;
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    expect(issuer.counts.jwks).toBe(2);
    expect(await outcomeOf(v.verify(old))).toBe('key_not_found');
  });

  it('keeps known keys working while the JWKS endpoint fails, retrying once per cooldown', async () => {
    const v = verifier({ staleKeysSeconds: 3600 });
    const t = await token();
    expect(await outcomeOf(v.verify(t))).toBe('ok');
    issuer.failJwks('always', 500);
    now += 601_000; // past the cache age
    const fresh = await token();
    for (let i = 0; i < 10; i++) expect(await outcomeOf(v.verify(fresh))).toBe('ok');
    expect(issuer.counts.jwks).toBe(2);
    now += 31_000;
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    expect(issuer.counts.jwks).toBe(3);
    now += 3600_000; // beyond the stale window: the cache no longer vouches for anything
    expect(await outcomeOf(v.verify(await token()))).toBe('idp_unavailable');
  });

  it('a hanging JWKS endpoint fails within the timeout, with one fetch for a herd', async () => {
    issuer.hangJwks('always');
    const v = verifier();
    const t = await token();
    const reasons = await Promise.all(Array.from({ length: 20 }, () => outcomeOf(v.verify(t))));
    expect(new Set(reasons)).toEqual(new Set(['idp_unavailable']));
    expect(issuer.counts.jwks).toBe(1);
  });

  it('an empty JWKS is authoritative: nothing verifies', async () => {
    const v = verifier();
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    issuer.setJwks({ keys: [] });
    const fresh = verifier();
    expect(await outcomeOf(fresh.verify(await token()))).toBe('key_not_found');
  });

  it('never follows a redirect and caps the response size', async () => {
    const served: Array<(res: ServerResponse) => void> = [
      (res) => {
        res.writeHead(302, { location: issuer.jwksUri });
        res.end();
      },
      (res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [issuer.activeKey.publicJwk], padding: 'x'.repeat(300 * 1024) }));
      },
    ];
    const server = createServer((req, res) => {
      req.resume();
      served.shift()!(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUri = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`;
      expect(await outcomeOf(verifier().verify(await token()))).toBe('ok'); // positive control: the real JWKS
      expect(await outcomeOf(verifier({ jwksUri }).verify(await token()))).toBe('idp_unavailable'); // 302
      expect(await outcomeOf(verifier({ jwksUri }).verify(await token()))).toBe('idp_unavailable'); // 300 KiB
      expect(served).toHaveLength(0);
    } finally {
      server.close();
    }
  });

  it('uses only keys fit for signing', () => {
    const rsa = issuer.activeKey.publicJwk;
    expect(isUsableSigningKey(rsa)).toBe(true);
    expect(isUsableSigningKey({ ...rsa, use: 'enc' })).toBe(false);
    expect(isUsableSigningKey({ ...rsa, key_ops: ['encrypt'] })).toBe(false);
    expect(isUsableSigningKey({ ...rsa, n: rsa.n!.slice(0, 171) })).toBe(false); // 1024 bits
    expect(isUsableSigningKey({ kty: 'oct', k: 'c2VjcmV0' })).toBe(false);
    expect(isUsableSigningKey({ ...rsa, d: 'private' })).toBe(false);
  });
});
