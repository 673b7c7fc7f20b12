/**
 * Broker request semantics with a real verifier against a real token issuer: what a
 * request must name, the key-count limit, key listing for an unmatched token, and the
 * deadline a token accepted within the clock skew gets. The provider records the
 * context it was called with (the broker's boundary); the STS wire is the e2e tests'.
 */
import { Broker, createProviderRegistry, DEFAULT_SETTINGS, type AccessProviderFactory, type AuditEvent, type BrokerConfig, type MintContext } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import { outcomeOf } from '../support/outcomes';

const SUBJECT = 'repo:acme/app:ref:refs/heads/main';
const BUDGET_MS = 2_000;

describe('Broker request semantics', () => {
  let issuer: TokenIssuer;
  const http = new NodeHttpClient();
  const calls: MintContext[] = [];
  const events: AuditEvent[] = [];
  let broker: Broker;

  const recording: AccessProviderFactory = {
    type: 'recording',
    providerSchema: {},
    keySchema: {},
    outputFields: ['Value'],
    secretFields: [],
    durationBounds: () => ({ min: 900, max: 3600, default: 900 }),
    usesBrokerToken: () => false,
    create: (provider) => ({
      name: provider.name,
      type: 'recording',
      mint: async (context) => {
        calls.push(context);
        return { fields: { Value: 'v' }, expiresAt: new Date(Date.now() + 900_000) };
      },
    }),
  };

  beforeAll(async () => {
    issuer = await startTokenIssuer();
    const key = { provider: 'rec', outputs: { V: 'Value' } };
    const config: BrokerConfig = {
      settings: { ...DEFAULT_SETTINGS, allowHttpLoopback: true, upstreamTimeoutMs: BUDGET_MS },
      clientIdps: [{ name: 'gh', issuer: issuer.issuer, audience: issuer.audience, jwksUri: issuer.jwksUri }],
      accessProviders: [{ name: 'rec', type: 'recording' }],
      clientIdentities: [
        { name: 'main', subject: SUBJECT, idp: 'gh', keys: { A: key, B: key } },
        { name: 'other', subject: 'repo:acme/other:ref:refs/heads/main', idp: 'gh', keys: { A: key, C: key } },
        { name: 'matching', subjectPattern: 'repo:acme/*:ref:refs/heads/*', idp: 'gh', claims: { '/ctx/groups': ['ci'] }, claimPatterns: { environment: 'prod-*' }, keys: { A: { ...key, sessionName: 'ci-${claims.actor}' } } },
      ],
    };
    broker = new Broker(config, { providers: createProviderRegistry([recording]), http, clock: Date.now, audit: (event) => void events.push(event) });
  });
  afterAll(async () => {
    http.close();
    await issuer.close();
  });
  beforeEach(() => {
    calls.length = 0;
  });

  const request = (token: string | undefined, body: { keys?: string[]; all?: boolean }) => ({ token, ...body, requestId: `r-${events.length}`, client: {} });

  it('mints named keys and all keys (positive controls)', async () => {
    const token = await issuer.githubToken();
    expect(Object.keys(await broker.mint(request(token, { keys: ['A'] })))).toEqual(['A']);
    expect(Object.keys(await broker.mint(request(token, { keys: ['A'], all: false })))).toEqual(['A']);
    expect(Object.keys(await broker.mint(request(token, { all: true }))).sort()).toEqual(['A', 'B']);
  });

  it('refuses a request naming neither keys nor all: true, before the token is looked at', async () => {
    const jwksFetches = issuer.counts.jwks;
    for (const body of [{}, { all: false }]) {
      expect(await outcomeOf(broker.mint(request(await issuer.githubToken(), body)))).toBe('request_invalid');
      expect(await outcomeOf(broker.mint(request('not-a-token', body)))).toBe('request_invalid');
    }
    expect(await outcomeOf(broker.mint(request(await issuer.githubToken(), { keys: [] })))).toBe('request_invalid');
    expect(await outcomeOf(broker.mint(request(await issuer.githubToken(), { keys: ['A'], all: true })))).toBe('request_invalid');
    expect(issuer.counts.jwks).toBe(jwksFetches);
    expect(calls).toHaveLength(0);
  });

  it('answers 400 for more distinct keys than the config defines, 403 for fewer that are not granted', async () => {
    const token = await issuer.githubToken();
    // The config defines A, B and C: three may be asked for (C is not granted to this token).
    expect(await outcomeOf(broker.mint(request(token, { keys: ['A', 'B', 'C'] })))).toBe('key_not_permitted');
    expect(await outcomeOf(broker.mint(request(token, { keys: ['A', 'B', 'C', 'A', 'B'] })))).toBe('key_not_permitted');
    expect(await outcomeOf(broker.mint(request(token, { keys: ['A', 'B', 'C', 'D'] })))).toBe('request_invalid');
    expect(events.at(-1)).toMatchObject({ outcome: 'denied', reason: 'request_invalid', detail: '4 requested, 3 defined' });
    expect(calls).toHaveLength(0);
  });

  it('refuses a control character in a claim any identity matches on or a key renders: 401, before matching', async () => {
    const matching = { sub: 'repo:acme/tool:ref:refs/heads/dev', environment: 'prod-eu', actor: 'octocat', ctx: { groups: 'ci' } };
    expect(Object.keys(await broker.mint(request(await issuer.githubToken(matching), { keys: ['A'] })))).toEqual(['A']); // positive control
    expect(await outcomeOf(broker.mint(request(await issuer.githubToken({ ...matching, environment: 'staging' }), { keys: ['A'] })))).toBe('no_identity_matched');
    for (const flawed of [
      { environment: 'prod-eu\n' },
      { actor: 'octo\u2028cat' },
      { ctx: { groups: 'ci\t' } },
      { sub: 'repo:acme/tool:ref:refs/heads/dev\n' },
    ]) {
      expect(await outcomeOf(broker.mint(request(await issuer.githubToken({ ...matching, ...flawed }), { keys: ['A'] })))).toBe('token_claim_invalid');
      expect(await outcomeOf(broker.listKeys(request(await issuer.githubToken({ ...matching, ...flawed }), {})))).toBe('token_claim_invalid');
    }
    // A token of this IdP is checked on these claims even when its subject is another identity's.
    expect(await outcomeOf(broker.mint(request(await issuer.githubToken({ actor: 'x\0' }), { keys: ['A'] })))).toBe('token_claim_invalid');
    // Claims nothing matches on may hold anything (a multi-line postal address).
    expect(Object.keys(await broker.mint(request(await issuer.githubToken({ address: 'line 1\nline 2' }), { keys: ['A'] })))).toEqual(['A']);
    expect(calls).toHaveLength(2);
  });

  it('refuses to list keys for a token no identity matches, and audits it as denied', async () => {
    await expect(broker.listKeys(request(await issuer.githubToken(), {}))).resolves.toMatchObject({ identities: ['main'] });
    expect(events.at(-1)).toMatchObject({ action: 'list-keys', outcome: 'allowed', keysGranted: ['A', 'B'] });
    expect(await outcomeOf(broker.listKeys(request(await issuer.githubToken({ sub: 'repo:evil/app:ref:refs/heads/main' }), {})))).toBe('no_identity_matched');
    expect(events.at(-1)).toMatchObject({ action: 'list-keys', outcome: 'denied', reason: 'no_identity_matched', keysGranted: [] });
  });

  it('gives a token accepted within the skew after its exp a whole upstream attempt', async () => {
    const now = Math.floor(Date.now() / 1000);
    const fresh = await issuer.githubToken({}, { iat: now, expiresIn: 300 });
    const recent = await issuer.githubToken({}, { iat: now - 305, expiresIn: 300 }); // exp 5 s ago
    const before = Date.now();
    await broker.mint(request(fresh, { keys: ['A'] }));
    await broker.mint(request(recent, { keys: ['A'] }));
    const [forFresh, forRecent] = calls as [MintContext, MintContext];
    // A fresh token: the request budget (three attempts' worth).
    expect(forFresh.deadline).toBeGreaterThanOrEqual(before + 3 * BUDGET_MS);
    // Expired 5 s ago, accepted until exp + 30 s: one whole attempt, never a deadline in the past.
    expect(forRecent.deadline).toBeGreaterThanOrEqual(before + BUDGET_MS);
    expect(forRecent.signal.aborted).toBe(false);
  });
});
