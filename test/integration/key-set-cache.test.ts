import { outcomeOf, rejectionOf } from '../support/outcomes';
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
  /** Waits until the issuer has seen `count` JWKS requests (a refresh made behind the answers). */
  const refreshed = async (count: number) => {
    for (let i = 0; i < 200 && issuer.counts.jwks < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(issuer.counts.jwks).toBe(count);
  };
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
    await refreshed(2); // behind the answers
    now += 31_000;
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    await refreshed(3);
    now += 3600_000; // beyond the stale window: the cache no longer vouches for anything
    expect(await outcomeOf(v.verify(await token()))).toBe('idp_unavailable');
    expect(issuer.counts.jwks).toBe(4);
  });

  it('refreshes an old key set behind the answers: no request waits on a hanging JWKS endpoint', async () => {
    const v = verifier();
    const t = await token();
    expect(await outcomeOf(v.verify(t))).toBe('ok');
    issuer.hangJwks('always');
    now += 601_000;
    const later = await token();
    // Each verification answers from the cache while the refresh hangs (were they waiting
    // on it, they would all end in 'idp_timeout' after its 300 ms).
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => outcomeOf(v.verify(later))));
    expect(outcomes).toEqual(Array(20).fill('ok'));
    await refreshed(2);
    // The refresh itself did time out (joined here, or tried again, it hangs alike) ...
    expect(await outcomeOf(v.keySets().get('gh')!.refresh())).toBe('idp_timeout');
    // ... and the known keys still answer.
    expect(await outcomeOf(v.verify(later))).toBe('ok');
  });

  it('while the JWKS endpoint fails, known keys verify and an unknown kid is 503, not 401; one fetch per cooldown', async () => {
    const v = verifier();
    const known = await token();
    const stranger = await token({ kid: 'rotated-in' });
    expect(await outcomeOf(v.verify(known))).toBe('ok'); // control
    expect(await outcomeOf(v.verify(stranger))).toBe('key_not_found'); // the IdP answers: an unknown kid is just that
    issuer.failJwks('always', 503);
    now += 31_000;
    expect(await Promise.all(Array.from({ length: 20 }, () => outcomeOf(v.verify(stranger))))).toEqual(Array(20).fill('idp_unavailable'));
    expect(await outcomeOf(v.verify(stranger))).toBe('idp_unavailable');
    expect(await outcomeOf(v.verify(known))).toBe('ok');
    expect(issuer.counts.jwks).toBe(2);
    now += 31_000;
    issuer.clearFaults();
    expect(await outcomeOf(v.verify(stranger))).toBe('key_not_found');
    expect(issuer.counts.jwks).toBe(3);
    expect(await outcomeOf(v.verify(stranger))).toBe('key_not_found');
    expect(issuer.counts.jwks).toBe(3);
  });

  it('a hanging JWKS endpoint fails within the timeout, with one fetch for a herd', async () => {
    expect(await outcomeOf(verifier().verify(await token()))).toBe('ok'); // control: the same issuer, answering
    issuer.hangJwks('always');
    const v = verifier();
    const t = await token();
    const reasons = await Promise.all(Array.from({ length: 20 }, () => outcomeOf(v.verify(t))));
    // The requests that waited on the fetch saw it time out (504); later ones fail fast (503).
    expect(new Set(reasons)).toEqual(new Set(['idp_timeout']));
    expect(await outcomeOf(v.verify(t))).toBe('idp_unavailable');
    expect(issuer.counts.jwks).toBe(2);
  });

  /** Each fault makes the key set unreadable; none is an empty key set. */
  const failures: Array<[string, (i: TokenIssuer) => void, string]> = [
    ['HTTP 404', (i) => i.failJwks('always', 404), 'idp_unavailable'],
    ['HTTP 500', (i) => i.failJwks('always', 500), 'idp_unavailable'],
    ['HTTP 503', (i) => i.failJwks('always', 503), 'idp_unavailable'],
    ['{"keys": null}', (i) => i.setJwks({ keys: null }), 'idp_unavailable'],
    ['no "keys" member', (i) => i.setJwks({ jwks: [] }), 'idp_unavailable'],
    ['"keys" not an array', (i) => i.setJwks({ keys: { kty: 'RSA' } }), 'idp_unavailable'],
    ['a timeout', (i) => i.hangJwks('always'), 'idp_timeout'],
  ];

  it.each(failures)('a JWKS failing with %s is fetched once per cooldown whatever the request rate', async (_name, fault, first) => {
    const t = await token();
    expect(await outcomeOf(verifier().verify(t))).toBe('ok'); // control: the same token and issuer, no fault
    fault(issuer);
    const v = verifier();
    const before = issuer.counts.jwks;
    const herd = await Promise.all(Array.from({ length: 50 }, () => outcomeOf(v.verify(t))));
    expect(new Set(herd)).toEqual(new Set([first]));
    expect(issuer.counts.jwks - before).toBe(1);
    // Within the cooldown: refused at once with when to come back, the IdP untouched.
    now += 20_000;
    const refused = await rejectionOf(v.verify(t));
    expect(refused).toMatchObject({ reason: 'idp_unavailable', retryAfterSeconds: 10 });
    expect(refused.message).not.toMatch(/injected|fault/);
    expect(await Promise.all(Array.from({ length: 50 }, () => outcomeOf(v.verify(t))))).toEqual(Array(50).fill('idp_unavailable'));
    expect(await v.keySets().get('gh')!.ready()).toBe(false);
    expect(issuer.counts.jwks - before).toBe(1);
    // The cooldown over: one retry for the next herd.
    now += 10_000;
    const retried = await Promise.all(Array.from({ length: 50 }, () => outcomeOf(v.verify(t))));
    expect(new Set(retried)).toEqual(new Set([first]));
    expect(issuer.counts.jwks - before).toBe(2);
    // Recovered: the next attempt after the cooldown verifies.
    issuer.clearFaults();
    issuer.setJwks(undefined);
    expect(await outcomeOf(v.verify(t))).toBe('idp_unavailable');
    now += 30_000;
    expect(await outcomeOf(v.verify(t))).toBe('ok');
    expect(issuer.counts.jwks - before).toBe(3);
  });

  it('readiness checks cost at most one fetch per cooldown, and none while keys are cached', async () => {
    const v = verifier();
    const keys = v.keySets().get('gh')!;
    expect(await keys.ready()).toBe(true); // control: one fetch loads the keys
    expect(await Promise.all(Array.from({ length: 20 }, () => keys.ready()))).toEqual(Array(20).fill(true));
    expect(issuer.counts.jwks).toBe(1);

    issuer.failJwks('always', 500);
    const cold = verifier().keySets().get('gh')!;
    expect(await Promise.all(Array.from({ length: 20 }, () => cold.ready()))).toEqual(Array(20).fill(false));
    for (let i = 0; i < 20; i++) expect(await cold.ready()).toBe(false);
    expect(issuer.counts.jwks).toBe(2);
    now += 31_000;
    expect(await cold.ready()).toBe(false);
    expect(issuer.counts.jwks).toBe(3);
    issuer.clearFaults();
    now += 31_000;
    expect(await cold.ready()).toBe(true);
    expect(await cold.ready()).toBe(true);
    expect(issuer.counts.jwks).toBe(4);
  });

  it('an empty JWKS is authoritative: nothing verifies, and it is no failure (ready, no cooldown)', async () => {
    const v = verifier();
    expect(await outcomeOf(v.verify(await token()))).toBe('ok');
    issuer.setJwks({ keys: [] });
    const fresh = verifier();
    expect(await outcomeOf(fresh.verify(await token()))).toBe('key_not_found');
    expect(await fresh.keySets().get('gh')!.ready()).toBe(true);
    expect(issuer.counts.jwks).toBe(2);
  });

  describe('discovery (no jwksUri in the config)', () => {
    const discovered = () => verifier({ jwksUri: undefined });
    /** The JWKS URL of the same server under another origin: `localhost` is not `127.0.0.1`. */
    const elsewhere = () => issuer.jwksUri.replace('127.0.0.1', 'localhost');

    it('reads jwks_uri from the issuer\'s discovery document once (positive control)', async () => {
      const v = discovered();
      expect(await outcomeOf(v.verify(await token()))).toBe('ok');
      now += 601_000;
      expect(await outcomeOf(v.verify(await token()))).toBe('ok');
      await refreshed(2);
      expect(issuer.counts).toEqual({ discovery: 1, jwks: 2 });
    });

    it.each<[string, (i: TokenIssuer) => void, RegExp]>([
      ['answers HTTP 500', (i) => i.failDiscovery('always', 500), /discovery document answered HTTP 500/],
      ['is not JSON', (i) => i.setDiscovery('<html>sign in</html>'), /discovery document is not a JSON object/],
      ['is a JSON array', (i) => i.setDiscovery('[]'), /discovery document is not a JSON object/],
      ['lacks jwks_uri', (i) => i.setDiscovery({ jwks_uri: undefined }), /no jwks_uri/],
      ['has a jwks_uri that is no string', (i) => i.setDiscovery({ jwks_uri: ['x'] }), /no jwks_uri/],
      ['names another issuer (OIDC Discovery §4.3)', (i) => i.setDiscovery({ issuer: `${i.issuer}/` }), /names issuer/],
      ['lacks the issuer', (i) => i.setDiscovery({ issuer: undefined }), /names issuer undefined/],
      ['points at keys on another origin', (i) => i.setDiscovery({ jwks_uri: i.jwksUri.replace('127.0.0.1', 'localhost') }), /another origin than the issuer; set the IdP's jwksUri/],
      ['points at keys on another port', (i) => i.setDiscovery({ jwks_uri: i.jwksUri.replace(/:(\d+)\//, (_m, port: string) => `:${Number(port) + 1}/`) }), /another origin/],
      ['points at keys over another scheme', (i) => i.setDiscovery({ jwks_uri: i.jwksUri.replace('http:', 'https:') }), /another origin/],
    ])('a discovery document that %s is a failed fetch, retried once per cooldown', async (_name, fault, detail) => {
      const t = await token();
      expect(await outcomeOf(discovered().verify(t))).toBe('ok'); // control: the real document
      fault(issuer);
      const v = discovered();
      const before = { ...issuer.counts };
      const herd = await Promise.all(Array.from({ length: 50 }, () => rejectionOf(v.verify(t))));
      expect(new Set(herd.map((err) => err.reason))).toEqual(new Set(['idp_unavailable']));
      expect(herd[0]!.detail).toMatch(detail);
      expect(await outcomeOf(v.verify(t))).toBe('idp_unavailable');
      expect(issuer.counts).toEqual({ discovery: before.discovery + 1, jwks: before.jwks }); // no keys fetched from anywhere
      now += 31_000;
      expect(await outcomeOf(v.verify(t))).toBe('idp_unavailable');
      expect(issuer.counts.discovery).toBe(before.discovery + 2);
    });

    it('a jwks_uri on another origin is trusted when the config names it', async () => {
      issuer.setDiscovery({ jwks_uri: elsewhere() });
      expect(await outcomeOf(discovered().verify(await token()))).toBe('idp_unavailable'); // discovered: refused
      expect(await outcomeOf(verifier({ jwksUri: elsewhere() }).verify(await token()))).toBe('ok');
      expect(issuer.counts).toEqual({ discovery: 1, jwks: 1 });
    });
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
