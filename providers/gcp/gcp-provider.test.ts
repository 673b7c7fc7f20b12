import {
  BrokerAuthUnavailable,
  DEFAULT_SETTINGS,
  ProviderBadResponse,
  ProviderRejected,
  ProviderTimeout,
  ProviderUnavailable,
  type AccessProvider,
  type BrokerError,
  type MintContext,
} from '../../broker-core';
import { startEntraEmulator } from '../../sandbox/entra-emulator';
import { startGcpEmulator, type GcpEmulator } from '../../sandbox/gcp-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import type { GcpKeyConfig, GcpProviderConfig } from './gcp-config';
import { gcpProvider } from './index';

const WIP = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/voidkey';
const POOL = 'iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool';
const BROKER_SUBJECT = 'voidkey-broker';
const DEPLOYER = 'deployer@acme-prod.iam.gserviceaccount.com';
const READER = 'reader@acme-data.iam.gserviceaccount.com';
const LONG_RUNNER = 'nightly@acme-prod.iam.gserviceaccount.com';
const OUTSIDER = 'outsider@acme-prod.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

/** The broker's own IdP: real keys, a JWKS on loopback, tokens signed in the test. */
let idp: TokenIssuer;
let emulator: GcpEmulator;

beforeAll(async () => {
  idp = await startTokenIssuer({ issuerPath: '/realms/broker' });
  emulator = await startGcpEmulator({
    trust: { issuer: idp.issuer, jwksUri: idp.jwksUri },
    workloadIdentityProvider: WIP,
    serviceAccounts: {
      [DEPLOYER]: { members: [`principal://${POOL}/subject/${BROKER_SUBJECT}`] },
      [READER]: { members: [`principalSet://${POOL}/*`] },
      [LONG_RUNNER]: { members: [`principal://${POOL}/subject/${BROKER_SUBJECT}`], extendedLifetime: true },
      [OUTSIDER]: { members: ['principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/subject/x'] },
    },
  });
});

afterAll(async () => {
  await emulator.close();
  await idp.close();
});

beforeEach(() => emulator.reset());

function providerConfig(overrides: Partial<GcpProviderConfig> = {}): GcpProviderConfig {
  return {
    name: 'gcp-test',
    type: 'gcp',
    workloadIdentityProvider: WIP,
    stsEndpoint: emulator.stsEndpoint,
    iamCredentialsEndpoint: emulator.iamCredentialsEndpoint,
    ...overrides,
  };
}

function createProvider(overrides: Partial<GcpProviderConfig> = {}, upstreamTimeoutMs = 2_000): AccessProvider {
  return gcpProvider.create(providerConfig(overrides), {
    settings: { ...DEFAULT_SETTINGS, allowHttpLoopback: true, upstreamTimeoutMs },
    http: { request: () => Promise.reject(new Error('the GCP provider uses its SDK transport')) },
  });
}

function key(overrides: Partial<GcpKeyConfig> = {}): GcpKeyConfig {
  return { provider: 'gcp-test', serviceAccount: DEPLOYER, outputs: { TOKEN: 'AccessToken' }, ...overrides };
}

interface TestContext extends MintContext {
  readonly audiences: (string | undefined)[];
  readonly tokens: string[];
}

function context(keyConfig: GcpKeyConfig, overrides: Partial<MintContext> = {}, tokenAudience?: string): TestContext {
  const audiences: (string | undefined)[] = [];
  const tokens: string[] = [];
  return {
    keyName: 'GCP',
    key: keyConfig,
    durationSeconds: 900,
    subject: 'repo:acme/app:ref:refs/heads/main',
    idp: 'github-actions',
    claims: {},
    requestId: 'req-1',
    signal: AbortSignal.timeout(20_000),
    deadline: Date.now() + 20_000,
    brokerToken: async (audience) => {
      audiences.push(audience);
      const token = await idp.sign({ sub: BROKER_SUBJECT, aud: tokenAudience ?? audience ?? 'none' });
      tokens.push(token);
      return token;
    },
    audiences,
    tokens,
    ...overrides,
  };
}

async function mintError(provider: AccessProvider, ctx: MintContext): Promise<BrokerError> {
  const error = await provider.mint(ctx).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (error === undefined) throw new Error('the mint was expected to fail');
  return error as BrokerError;
}

/** Neither the message nor the detail may carry a token or the upstream's own words. */
function expectSanitised(error: BrokerError, ctx: TestContext): void {
  const text = `${error.message} ${error.detail ?? ''}`;
  for (const token of ctx.tokens) expect(text).not.toContain(token);
  for (const issued of emulator.issued) expect(text).not.toContain(issued.accessToken);
  expect(text).not.toMatch(/emu-federated|ya29|denied on resource|does not match|Lifetime|<html/i);
}

describe('gcp provider: minting', () => {
  it('exchanges the broker token at STS and generates the key’s service account token, with the exact wire fields', async () => {
    const ctx = context(key({ scopes: ['https://www.googleapis.com/auth/devstorage.read_only'], outputs: { T: 'AccessToken', E: 'ExpireTime', P: 'ProjectId' } }));
    const before = Date.now();
    const minted = await createProvider().mint(ctx);

    expect(ctx.audiences).toEqual([WIP]);
    expect(emulator.calls('sts')).toBe(1);
    expect(emulator.calls('generateAccessToken')).toBe(1);
    const [sts, iam] = emulator.requests;
    expect(sts!.path).toBe('/v1/token');
    expect(sts!.headers.authorization).toBeUndefined();
    expect(sts!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(sts!.form).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: WIP,
      scope: CLOUD_PLATFORM,
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: ctx.tokens[0],
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    expect(iam!.path).toBe(`/v1/projects/-/serviceAccounts/${DEPLOYER}:generateAccessToken`);
    expect(iam!.headers.authorization).toMatch(/^Bearer emu-federated\./);
    expect(iam!.json).toEqual({ scope: ['https://www.googleapis.com/auth/devstorage.read_only'], lifetime: '900s', delegates: [] });

    const [issued] = emulator.issued;
    expect(issued!.principal).toBe(`principal://${POOL}/subject/${BROKER_SUBJECT}`);
    expect(minted.fields).toEqual({ AccessToken: issued!.accessToken, ExpireTime: new Date(issued!.expireTime).toISOString(), ProjectId: 'acme-prod' });
    expect(minted.fields.ExpireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(minted.expiresAt.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(minted.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 900_000);
    expect(minted.credentialId).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(minted.credentialId).not.toContain(issued!.accessToken);
  });

  it('gives different keys different service accounts, scopes and projects, with a fresh exchange per mint', async () => {
    const provider = createProvider();
    const deploy = await provider.mint(context(key()));
    const read = await provider.mint(context(key({ serviceAccount: READER, projectId: 'acme-analytics', scopes: ['a', 'b'] }), { durationSeconds: 1_800 }));

    expect(emulator.issued.map((t) => [t.serviceAccount, t.scopes, t.lifetimeSeconds])).toEqual([
      [DEPLOYER, [CLOUD_PLATFORM], 900],
      [READER, ['a', 'b'], 1_800],
    ]);
    expect(deploy.fields.ProjectId).toBe('acme-prod');
    expect(read.fields.ProjectId).toBe('acme-analytics');
    expect(deploy.fields.AccessToken).not.toBe(read.fields.AccessToken);
    // No token cache shared between callers: each mint exchanged its own broker token.
    expect(emulator.calls('sts')).toBe(2);
    const bearers = emulator.requests.filter((r) => r.endpoint === 'generateAccessToken').map((r) => r.headers.authorization);
    expect(new Set(bearers).size).toBe(2);
  });

  it('asks for the configured brokerAuth audience instead of the provider name', async () => {
    const custom = await startGcpEmulator({ trust: { issuer: idp.issuer, jwksUri: idp.jwksUri, audience: 'voidkey-gcp' }, serviceAccounts: { [DEPLOYER]: { members: [`principalSet://${POOL}/*`] } } });
    try {
      const provider = createProvider({ brokerAuth: { audience: 'voidkey-gcp' }, stsEndpoint: custom.stsEndpoint, iamCredentialsEndpoint: custom.iamCredentialsEndpoint });
      const ctx = context(key());
      await provider.mint(ctx);
      expect(ctx.audiences).toEqual(['voidkey-gcp']);
      expect(custom.requests[0]!.form!.audience).toBe(WIP);
    } finally {
      await custom.close();
    }
  });

  it('sends a delegation chain in the documented resource-name form', async () => {
    const emulatorWithChain = await startGcpEmulator({
      trust: { issuer: idp.issuer, jwksUri: idp.jwksUri },
      serviceAccounts: {
        [READER]: { members: [`principalSet://${POOL}/*`] },
        [DEPLOYER]: { members: [`serviceAccount:${READER}`] },
      },
    });
    try {
      const provider = createProvider({ stsEndpoint: emulatorWithChain.stsEndpoint, iamCredentialsEndpoint: emulatorWithChain.iamCredentialsEndpoint });
      const minted = await provider.mint(context(key({ delegates: [READER] })));
      expect(emulatorWithChain.requests[1]!.json).toMatchObject({ delegates: [`projects/-/serviceAccounts/${READER}`] });
      expect(minted.fields.AccessToken).toBe(emulatorWithChain.issued[0]!.accessToken);
      // Control: without the delegate the broker's principal has no binding on the deployer.
      const error = await mintError(provider, context(key()));
      expect(error).toBeInstanceOf(ProviderRejected);
    } finally {
      await emulatorWithChain.close();
    }
  });

  it('mints extended lifetimes only where the key and GCP both allow them', async () => {
    const provider = createProvider();
    const long = await provider.mint(context(key({ serviceAccount: LONG_RUNNER, extendedLifetime: true }), { durationSeconds: 43_200 }));
    expect(emulator.issued[0]!.lifetimeSeconds).toBe(43_200);
    expect(long.expiresAt.getTime() - Date.now()).toBeGreaterThan(43_000_000);

    // The key claims an extension the account's org policy does not grant: GCP refuses.
    const ctx = context(key({ extendedLifetime: true }), { durationSeconds: 7_200 });
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(error.detail).toBe('iam: HTTP 400 INVALID_ARGUMENT');
    expectSanitised(error, ctx);
  });
});

describe('gcp provider: upstream errors', () => {
  it('maps STS invalid_grant (the pool does not accept the token) to ProviderRejected, without the token or the upstream text', async () => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control: same provider, right audience

    const ctx = context(key(), {}, 'https://someone-else.example.com');
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(error.reason).toBe('provider_rejected');
    expect(error.detail).toBe('sts: HTTP 400 invalid_grant');
    expect(emulator.calls('generateAccessToken')).toBe(1); // only the control got that far
    expectSanitised(error, ctx);
    expect(error.cause).toBeUndefined();
  });

  it('maps PERMISSION_DENIED from generateAccessToken to ProviderRejected', async () => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control: a bound account

    const ctx = context(key({ serviceAccount: OUTSIDER }));
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(error.detail).toBe('iam: HTTP 403 PERMISSION_DENIED');
    expectSanitised(error, ctx);
  });

  it.each([
    ['sts', 'sts'],
    ['generateAccessToken', 'iam'],
  ] as const)('retries a 503 from %s, then answers ProviderUnavailable with Retry-After', async (endpoint, leg) => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.reset();

    emulator.failNext(endpoint, { status: 503, body: { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } }, headers: { 'retry-after': '7' } }, 3);
    const ctx = context(key());
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderUnavailable);
    expect(error.detail).toMatch(new RegExp(`^${leg}: HTTP 503`));
    expect(error.retryAfterSeconds).toBe(7);
    // One budget of three attempts per key, both legs together: retries never multiply.
    expect(emulator.calls('sts') + emulator.calls('generateAccessToken')).toBe(3);
    expect(emulator.calls(endpoint)).toBe(leg === 'sts' ? 3 : 2);
    expectSanitised(error, ctx);
  });

  it.each([
    ['sts', 'sts'],
    ['generateAccessToken', 'iam'],
  ] as const)('cuts off an oversized answer from %s (8 MB) at the socket: nothing past the cap is read, the mint fails', async (endpoint, leg) => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.reset();
    const huge = endpoint === 'sts' ? { access_token: 'x'.repeat(8 * 1024 * 1024), issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 } : { accessToken: 'x'.repeat(8 * 1024 * 1024), expireTime: new Date(Date.now() + 3_600_000).toISOString() };
    emulator.failNext(endpoint, { status: 200, body: huge }, 'always');
    const error = await mintError(provider, context(key()));
    // Read whole, the STS answer used to be accepted and its 8 MB token sent on as a header.
    expect({ name: error.constructor.name, detail: error.detail }).toEqual({ name: 'ProviderUnavailable', detail: `${leg}: network ERR_STREAM_PREMATURE_CLOSE` });
    expect(emulator.calls('sts') + emulator.calls('generateAccessToken')).toBe(3);
    emulator.reset();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // and the provider goes on serving
  });

  it('rides out throttling: a 429 then success', async () => {
    emulator.failNext('generateAccessToken', { status: 429, body: { error: { code: 429, message: 'Quota exceeded.', status: 'RESOURCE_EXHAUSTED' } } });
    const minted = await createProvider().mint(context(key()));
    expect(emulator.calls('generateAccessToken')).toBe(2);
    expect(minted.fields.AccessToken).toBe(emulator.issued[0]!.accessToken);
  });

  it('never retries a 4xx', async () => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.reset();
    emulator.failNext('sts', { status: 400, body: { error: 'invalid_request', error_description: 'bad' } });
    const error = await mintError(provider, context(key()));
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(emulator.calls('sts')).toBe(1);
  });

  it('answers ProviderUnavailable when GCP cannot be reached', async () => {
    const closed = await startGcpEmulator({ trust: { issuer: idp.issuer, jwksUri: idp.jwksUri }, serviceAccounts: { [DEPLOYER]: { members: [`principalSet://${POOL}/*`] } } });
    const provider = createProvider({ stsEndpoint: closed.stsEndpoint, iamCredentialsEndpoint: closed.iamCredentialsEndpoint });
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control: while it still listens
    await closed.close();
    const error = await mintError(provider, context(key()));
    expect(error).toBeInstanceOf(ProviderUnavailable);
    expect(error.detail).toMatch(/^sts: network/);
  });

  it('answers ProviderBadResponse, not "unavailable", when the endpoint’s certificate is untrusted', async () => {
    // Any https server with a private CA will do: the Entra emulator's test CA is not in the public roots.
    const untrusted = await startEntraEmulator({ trust: { issuer: idp.issuer, jwksUri: idp.jwksUri, audience: 'x' }, federatedCredentials: [] });
    try {
      const error = await mintError(createProvider({ stsEndpoint: `${untrusted.authorityHost}/v1/token` }), context(key()));
      expect(error).toBeInstanceOf(ProviderBadResponse);
      expect(error.detail).toBe('sts: tls UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(untrusted.calls()).toBe(0);
    } finally {
      await untrusted.close();
    }
  });

  it.each([
    ['STS: an empty object', 'sts', { status: 200, body: {} }, 'sts'],
    ['STS: HTML', 'sts', { status: 200, body: '<html><body>Sign in</body></html>' }, 'sts'],
    ['IAM: HTML', 'generateAccessToken', { status: 200, body: '<html><body>proxy</body></html>' }, 'iam'],
    ['IAM: no expireTime', 'generateAccessToken', { status: 200, body: { accessToken: 'ya29.half' } }, 'iam'],
    ['IAM: expireTime in the past', 'generateAccessToken', { status: 200, body: { accessToken: 'ya29.old', expireTime: '2020-01-01T00:00:00Z' } }, 'iam'],
    ['IAM: unparsable expireTime', 'generateAccessToken', { status: 200, body: { accessToken: 'ya29.odd', expireTime: 'soon' } }, 'iam'],
    ['IAM: expireTime a year beyond the duration asked for', 'generateAccessToken', { status: 200, body: { accessToken: 'ya29.long', expireTime: new Date(Date.now() + 365 * 86_400_000).toISOString() } }, 'iam'],
  ] as const)('answers ProviderBadResponse for a broken 200 (%s)', async (_label, endpoint, fault, leg) => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.failNext(endpoint, fault);
    const ctx = context(key());
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderBadResponse);
    expect(error.detail).toMatch(new RegExp(`^(?:${leg}|GCP IAM Credentials): `));
    expectSanitised(error, ctx);
  });

  it('passes the broker’s own authentication failures through unchanged', async () => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.reset();
    const failure = new BrokerAuthUnavailable('the broker IdP is unavailable');
    const error = await mintError(provider, context(key(), { brokerToken: () => Promise.reject(failure) }));
    expect(error).toBe(failure);
    expect(emulator.calls()).toBe(0);
  });
});

describe('gcp provider: time', () => {
  it.each(['sts', 'generateAccessToken'] as const)('gives up on a hanging %s within the upstream timeout and drops the connection', async (endpoint) => {
    const provider = createProvider({}, 400);
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.hangNext(endpoint);
    const started = Date.now();
    const error = await mintError(provider, context(key()));
    expect(error).toBeInstanceOf(ProviderTimeout);
    expect(error.detail).toBe(`${endpoint === 'sts' ? 'sts' : 'iam'}: timeout`);
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(() => emulator.abandoned === 1);
  });

  it('stops when the caller’s deadline passes', async () => {
    const provider = createProvider({}, 10_000);
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    emulator.reset();
    emulator.hangNext('generateAccessToken');
    const deadline = new AbortController();
    const ctx = context(key(), { signal: deadline.signal });
    setTimeout(() => deadline.abort(new DOMException('deadline', 'TimeoutError')), 200);
    const started = Date.now();
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderTimeout);
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(() => emulator.abandoned === 1);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
