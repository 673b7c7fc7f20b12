import { createServer as createTcpServer, type AddressInfo } from 'node:net';
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
import { startEntraEmulator, type EntraEmulator } from '../../sandbox/entra-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import type { AzureKeyConfig, AzureProviderConfig } from './azure-config';
import { azureProvider } from './index';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '0b3f2d6e-1111-4c2a-9d3e-5a6b7c8d9e0f';
const DEPLOY_APP = '11111111-2222-4333-8444-555555555555';
const READER_APP = '66666666-7777-4888-9999-aaaaaaaaaaaa';
const OTHER_TENANT_APP = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff';
const WRONG_ISSUER_APP = '12121212-3434-4565-8787-909090909090';
const WRONG_SUBJECT_APP = '13131313-2424-4535-8646-757575757575';
const UNKNOWN_APP = '99999999-8888-4777-8666-555555555555';
const BROKER_SUBJECT = 'voidkey-broker';
const EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const MANAGEMENT = 'https://management.azure.com/.default';

/** The broker's own IdP: real keys, a JWKS on loopback, tokens signed in the test. */
let idp: TokenIssuer;
let entra: EntraEmulator;

beforeAll(async () => {
  idp = await startTokenIssuer({ issuerPath: '/realms/broker' });
  entra = await startEntraEmulator({
    trust: { issuer: idp.issuer, jwksUri: idp.jwksUri, audience: EXCHANGE_AUDIENCE },
    federatedCredentials: [
      { tenantId: TENANT, clientId: DEPLOY_APP, issuer: idp.issuer, subject: BROKER_SUBJECT },
      { tenantId: TENANT, clientId: READER_APP, issuer: idp.issuer, subject: BROKER_SUBJECT },
      { tenantId: OTHER_TENANT, clientId: OTHER_TENANT_APP, issuer: idp.issuer, subject: BROKER_SUBJECT },
      { tenantId: TENANT, clientId: WRONG_ISSUER_APP, issuer: 'https://token.actions.githubusercontent.com', subject: BROKER_SUBJECT },
      { tenantId: TENANT, clientId: WRONG_SUBJECT_APP, issuer: idp.issuer, subject: 'someone-else' },
    ],
  });
});

afterAll(async () => {
  await entra.close();
  await idp.close();
});

beforeEach(() => entra.reset());

function createProvider(overrides: Partial<AzureProviderConfig> = {}, upstreamTimeoutMs = 3_000): AccessProvider {
  const config: AzureProviderConfig = { name: 'azure-test', type: 'azure', tenantId: TENANT, authorityHost: entra.authorityHost, caFile: entra.caFile, ...overrides };
  return azureProvider.create(config, {
    settings: { ...DEFAULT_SETTINGS, upstreamTimeoutMs },
    http: { request: () => Promise.reject(new Error('the Azure provider uses its SDK transport')) },
  });
}

function key(overrides: Partial<AzureKeyConfig> = {}): AzureKeyConfig {
  return { provider: 'azure-test', clientId: DEPLOY_APP, scope: MANAGEMENT, outputs: { ARM_ACCESS_TOKEN: 'AccessToken' }, ...overrides };
}

interface TestContext extends MintContext {
  readonly audiences: (string | undefined)[];
  readonly tokens: string[];
}

function context(keyConfig: AzureKeyConfig, overrides: Partial<MintContext> = {}): TestContext {
  const audiences: (string | undefined)[] = [];
  const tokens: string[] = [];
  return {
    keyName: 'AZURE',
    key: keyConfig,
    durationSeconds: 3_600,
    subject: 'repo:acme/app:ref:refs/heads/main',
    idp: 'github-actions',
    claims: {},
    requestId: 'req-1',
    signal: AbortSignal.timeout(20_000),
    deadline: Date.now() + 20_000,
    brokerToken: async (audience) => {
      audiences.push(audience);
      const token = await idp.sign({ sub: BROKER_SUBJECT, aud: audience ?? 'none' });
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

function expectSanitised(error: BrokerError, ctx: TestContext): void {
  const text = `${error.message} ${error.detail ?? ''}`;
  for (const token of ctx.tokens) expect(text).not.toContain(token);
  for (const issued of entra.issued) expect(text).not.toContain(issued.accessToken);
  expect(text).not.toMatch(/No matching|federated identity record|Trace ID|Correlation|not found in the directory|<html/i);
  expect(error.cause).toBeUndefined();
}

function tokenRequests() {
  return entra.requests.filter((r) => r.endpoint === 'token');
}

describe('azure provider: minting', () => {
  it('presents the broker token as the federated client assertion, with the exact wire fields', async () => {
    const ctx = context(key({ outputs: { T: 'AccessToken', E: 'ExpiresOn', TID: 'TenantId', CID: 'ClientId' } }));
    const before = Date.now();
    const minted = await createProvider().mint(ctx);

    expect(ctx.audiences).toEqual([EXCHANGE_AUDIENCE]);
    expect(entra.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /${TENANT}/v2.0/.well-known/openid-configuration`,
      `POST /${TENANT}/oauth2/v2.0/token`,
    ]);
    const [post] = tokenRequests();
    expect(post!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(post!.headers.authorization).toBeUndefined();
    expect(post!.form).toMatchObject({
      grant_type: 'client_credentials',
      client_id: DEPLOY_APP,
      scope: MANAGEMENT,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: ctx.tokens[0],
    });
    expect(post!.form!.client_secret).toBeUndefined();

    const [issued] = entra.issued;
    expect(issued).toMatchObject({ tenantId: TENANT, clientId: DEPLOY_APP, scope: MANAGEMENT, subject: BROKER_SUBJECT });
    expect(minted.fields).toEqual({ AccessToken: issued!.accessToken, ExpiresOn: minted.expiresAt.toISOString(), TenantId: TENANT, ClientId: DEPLOY_APP });
    expect(minted.fields.ExpiresOn).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // expires_in 3599 from the request time, which MSAL counts in whole (rounded) seconds.
    expect(minted.expiresAt.getTime()).toBeGreaterThanOrEqual(before - 1_000 + 3_599_000);
    expect(minted.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000 + 3_599_000);
    expect(minted.upstreamRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(minted.credentialId).toMatch(/^sha256:[0-9a-f]{32}$/);
  });

  it('gives different keys different apps, scopes and tenants, with a fresh token request per mint', async () => {
    const provider = createProvider();
    const deploy = await provider.mint(context(key()));
    const read = await provider.mint(context(key({ clientId: READER_APP, scope: 'https://vault.azure.net/.default' })));
    const elsewhere = await provider.mint(context(key({ clientId: OTHER_TENANT_APP, tenantId: OTHER_TENANT, scope: 'https://storage.azure.com/.default' })));

    expect(entra.issued.map((t) => [t.tenantId, t.clientId, t.scope])).toEqual([
      [TENANT, DEPLOY_APP, MANAGEMENT],
      [TENANT, READER_APP, 'https://vault.azure.net/.default'],
      [OTHER_TENANT, OTHER_TENANT_APP, 'https://storage.azure.com/.default'],
    ]);
    expect([deploy.fields.ClientId, read.fields.ClientId, elsewhere.fields.ClientId]).toEqual([DEPLOY_APP, READER_APP, OTHER_TENANT_APP]);
    expect(elsewhere.fields.TenantId).toBe(OTHER_TENANT);
    expect(tokenRequests().map((r) => r.path)).toEqual([
      `/${TENANT}/oauth2/v2.0/token`,
      `/${TENANT}/oauth2/v2.0/token`,
      `/${OTHER_TENANT}/oauth2/v2.0/token`,
    ]);
    // No MSAL cache shared between mints: the same key twice asks Entra twice.
    await provider.mint(context(key()));
    expect(tokenRequests()).toHaveLength(4);
  });

  it('trusts the emulator’s test CA only through the provider’s caFile', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control: caFile set
    entra.reset();
    const error = await mintError(createProvider({ caFile: undefined }), context(key()));
    expect(error).toBeInstanceOf(ProviderBadResponse);
    expect(error.detail).toBe('entra: tls UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(entra.calls()).toBe(0); // the TLS handshake failed: no request reached the emulator
  });
});

describe('azure provider: Entra errors', () => {
  it.each([
    ['no federated credential for the issuer', { clientId: WRONG_ISSUER_APP }, {}, 'entra: HTTP 400 invalid_client AADSTS700211 (request '],
    ['no federated credential for the subject', { clientId: WRONG_SUBJECT_APP }, {}, 'entra: HTTP 400 invalid_client AADSTS700213 (request '],
    ['an assertion for another audience', {}, { brokerAuth: { audience: 'https://broker.example.com' } }, 'entra: HTTP 400 invalid_client AADSTS700212 (request '],
    ['an app unknown in the tenant', { clientId: UNKNOWN_APP }, {}, 'entra: HTTP 400 unauthorized_client AADSTS700016 (request '],
  ] as const)('maps %s to ProviderRejected without Entra’s text', async (_label, keyOverrides, providerOverrides, detail) => {
    const provider = createProvider(providerOverrides);
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    const ctx = context(key(keyOverrides));
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(error.reason).toBe('provider_rejected');
    expect(error.detail!.startsWith(detail)).toBe(true);
    expect(error.detail).toMatch(/\(request [0-9a-f-]{36}\)$/); // Entra's request id, for a support case
    expect(tokenRequests()).toHaveLength(1); // a 4xx is never retried
    expectSanitised(error, ctx);
  });

  it('maps an unknown tenant (the metadata call fails) to ProviderRejected', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control: the known tenant
    const error = await mintError(createProvider({ tenantId: '00000000-0000-4000-8000-000000000000' }), context(key()));
    expect(error).toBeInstanceOf(ProviderRejected);
    expect(error.detail).toMatch(/^entra: HTTP 400 invalid_request AADSTS90002 \(request [0-9a-f-]{36}\)$/);
  });

  it('retries a 503, then answers ProviderUnavailable with Entra’s Retry-After, without waiting it out', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    entra.failNext('token', { status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.', error_codes: [90033] }, headers: { 'retry-after': '30' } }, 3);
    const ctx = context(key());
    const started = Date.now();
    const error = await mintError(createProvider(), ctx);
    expect(error).toBeInstanceOf(ProviderUnavailable);
    expect(error.detail).toBe('entra: HTTP 503 temporarily_unavailable AADSTS90033');
    expect(error.detail).not.toMatch(/AADSTS90033:/);
    expect(error.retryAfterSeconds).toBe(30);
    expect(tokenRequests()).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(2_500);
    expectSanitised(error, ctx);
  });

  it('cuts off an oversized token answer (8 MB) at the socket: nothing past the cap is read, the mint fails', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    entra.failNext('token', { status: 200, body: { token_type: 'Bearer', expires_in: 3599, access_token: 'x'.repeat(8 * 1024 * 1024) } }, 'always');
    const provider = createProvider();
    const error = await mintError(provider, context(key()));
    expect(error).toBeInstanceOf(ProviderUnavailable);
    expect(tokenRequests().length).toBeLessThanOrEqual(3);
    entra.reset();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // and the provider goes on serving
  });

  it('spends one budget of 3 attempts per key across the metadata and token calls: retries never multiply', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    const unavailable = { status: 503, body: { error: 'temporarily_unavailable', error_codes: [90033] } };
    entra.failNext('openid-configuration', unavailable, 1);
    entra.failNext('token', unavailable, 5);
    const error = await mintError(createProvider(), context(key()));
    expect(error).toBeInstanceOf(ProviderUnavailable);
    // Attempt 1 fails at the metadata call, attempts 2 and 3 at the token call: 3 in all.
    expect(entra.calls('openid-configuration')).toBe(3);
    expect(tokenRequests()).toHaveLength(2);
    entra.reset(); // drops the token faults left over
  });

  it.each([
    ['with', { 'retry-after': '20' }],
    ['without', {}],
  ])('rides out throttling %s Retry-After: a 429 then success', async (_label, headers) => {
    entra.failNext('token', { status: 429, body: { error: 'temporarily_unavailable' }, headers });
    const minted = await createProvider().mint(context(key()));
    expect(tokenRequests()).toHaveLength(2);
    expect(minted.fields.AccessToken).toBe(entra.issued[0]!.accessToken);
  });

  it('answers ProviderUnavailable when Entra cannot be reached', async () => {
    await expect(createProvider().mint(context(key()))).resolves.toBeDefined(); // control: the emulator's port
    const error = await mintError(createProvider({ authorityHost: `https://127.0.0.1:${await closedPort()}` }), context(key()));
    expect(error).toBeInstanceOf(ProviderUnavailable);
    expect(error.detail).toMatch(/^entra: network/);
  });

  it.each([
    ['HTML', { status: 200, body: '<html><body>Sign in to your proxy</body></html>' }],
    ['no access_token', { status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 } }],
    ['no expires_in', { status: 200, body: { token_type: 'Bearer', access_token: 'emu-entra.half' } }],
    ['an expires_in that is no number', { status: 200, body: { token_type: 'Bearer', expires_in: 'soon', access_token: 'emu-entra.odd' } }],
  ] as const)('answers ProviderBadResponse for a broken 200 (%s)', async (_label, fault) => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    entra.failNext('token', fault);
    const ctx = context(key());
    const error = await mintError(provider, ctx);
    expect(error).toBeInstanceOf(ProviderBadResponse);
    expect(error.detail).toMatch(/^entra: /);
    expectSanitised(error, ctx);
  });

  it('passes the broker’s own authentication failures through unchanged', async () => {
    const provider = createProvider();
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    const failure = new BrokerAuthUnavailable('the broker IdP is unavailable');
    const error = await mintError(provider, context(key(), { brokerToken: () => Promise.reject(failure) }));
    expect(error).toBe(failure);
    expect(entra.calls()).toBe(0);
  });
});

describe('azure provider: time', () => {
  it.each(['openid-configuration', 'token'] as const)('gives up on a hanging %s call within the upstream timeout and drops the connection', async (endpoint) => {
    const provider = createProvider({}, 500);
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    entra.hangNext(endpoint);
    const started = Date.now();
    const error = await mintError(provider, context(key()));
    expect(error).toBeInstanceOf(ProviderTimeout);
    expect(error.detail).toBe('entra: timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(() => entra.abandoned === 1);
  });

  it('stops when the caller’s deadline passes', async () => {
    const provider = createProvider({}, 10_000);
    await expect(provider.mint(context(key()))).resolves.toBeDefined(); // control
    entra.reset();
    entra.hangNext('token');
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(new DOMException('deadline', 'TimeoutError')), 200);
    const started = Date.now();
    const error = await mintError(provider, context(key(), { signal: deadline.signal }));
    expect(error).toBeInstanceOf(ProviderTimeout);
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(() => entra.abandoned === 1);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
