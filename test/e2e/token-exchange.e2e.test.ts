import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalAccountClient } from 'google-auth-library';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { mintAt } from './sandbox';
import { runCli } from '../../sandbox/broker-process';
import { writeSigningKey } from '../../sandbox/broker-issuer-keys';
import { startEntraEmulator, type EntraEmulator } from '../../sandbox/entra-emulator';
import { startGcpEmulator, type GcpEmulator } from '../../sandbox/gcp-emulator';
import { startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

const WIP = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/voidkey';
const SA = 'deployer@acme-prod.iam.gserviceaccount.com';
const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/**
 * RFC 8693 token exchange through the real server: GCP and Azure keys against the sandbox
 * emulators, and every refusal as RFC 6749 §5.2 JSON, each beside its positive control.
 */
describe('POST /oauth2/token', () => {
  let sandbox: Sandbox;
  let gcp: GcpEmulator;
  let entra: EntraEmulator;
  let token: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    const trust = { issuer: sandbox.brokerIdp.issuer, jwksUri: sandbox.brokerIdp.jwksUri };
    gcp = await startGcpEmulator({
      trust,
      workloadIdentityProvider: WIP,
      serviceAccounts: { [SA]: { members: [`principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/subject/voidkey-broker`] } },
    });
    entra = await startEntraEmulator({
      trust: { ...trust, audience: 'api://AzureADTokenExchange' },
      federatedCredentials: [{ tenantId: TENANT, clientId: CLIENT, issuer: sandbox.brokerIdp.issuer, subject: 'voidkey-broker' }],
    });
    const config = sandbox.config
      .replace(
        'clientIdentities:',
        `  - name: gcp-prod
    type: gcp
    workloadIdentityProvider: ${WIP}
    stsEndpoint: ${gcp.stsEndpoint}
    iamCredentialsEndpoint: ${gcp.iamCredentialsEndpoint}
  - name: azure-prod
    type: azure
    tenantId: ${TENANT}
    authorityHost: ${entra.authorityHost}
    caFile: ${entra.caFile}
  - name: internal
    type: broker-jwt
clientIdentities:`,
      )
      .replace(
        '  - name: app-any-branch',
        `      GCP_DEPLOY: { provider: gcp-prod, serviceAccount: ${SA}, duration: 1800, outputs: { GOOGLE_OAUTH_ACCESS_TOKEN: AccessToken, GOOGLE_CLOUD_PROJECT: ProjectId } }
      GCP_PROJECT_ONLY: { provider: gcp-prod, serviceAccount: ${SA}, outputs: { GOOGLE_CLOUD_PROJECT: ProjectId } }
      VAULT_JWT: { provider: internal, audience: vault.example.com, duration: 600, claims: { repository: '\${claims.repository}', team: platform }, outputs: { VAULT_JWT: Token, VAULT_JWT_EXPIRES_AT: ExpiresAt } }
      AZURE_DEPLOY: { provider: azure-prod, clientId: ${CLIENT}, scope: https://management.azure.com/.default, outputs: { AZURE_ACCESS_TOKEN: AccessToken } }
  - name: app-any-branch`,
      )
      .concat(`brokerIdentity:\n  issuer: https://broker.example.com\n  signingKeys:\n    - file: ${writeSigningKey()}\n`);
    await sandbox.restartBroker(config);
    token = await sandbox.github.githubToken({ repository_id: '123456789' });
  });
  afterAll(async () => {
    await sandbox?.close();
    await gcp?.close();
    await entra?.close();
  });

  const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
  const good = (overrides: Record<string, string | undefined> = {}): Record<string, string> =>
    Object.fromEntries(
      Object.entries({ grant_type: GRANT, subject_token: token, subject_token_type: JWT_TYPE, resource: 'urn:voidkey:key:GCP_DEPLOY', ...overrides }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );

  async function post(body: string, headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }, path = '/oauth2/token'): Promise<Answer> {
    const response = await fetch(`${sandbox.broker.url}${path}`, { method: 'POST', headers, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: JSON.parse(text) as Record<string, unknown>, text };
  }
  const exchange = (fields: Record<string, string>) => post(form(fields));

  function expectRefusal(answer: Answer, status: number, error: string, description: RegExp): void {
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status, error });
    expect(answer.body.error_description).toMatch(description);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.text).not.toContain(token);
    expect(answer.text).not.toContain(token.split('.')[1]!);
    expect(answer.text).not.toMatch(/stack|at .*\.js/);
  }

  it('exchanges the CI token for the GCP key’s access token (resource=urn:voidkey:key:KEY)', async () => {
    const answer = await exchange(good());
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.body).toEqual({ access_token: expect.stringMatching(/^ya29\./) as unknown, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: expect.any(Number) as unknown, scope: 'https://www.googleapis.com/auth/cloud-platform' });
    expect(answer.body.expires_in).toBeGreaterThan(1700);
    expect(answer.body.expires_in).toBeLessThanOrEqual(1800);
  });

  it('exchanges for the Azure key’s access token (audience=KEY, id_token type)', async () => {
    const answer = await exchange(good({ resource: undefined, audience: 'AZURE_DEPLOY', subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer' });
    expect(typeof answer.body.access_token).toBe('string');
  });

  it('takes the key in audience as urn:voidkey:key:KEY with Google\'s default scope, as Google\'s external_account clients send it', async () => {
    const answer = await exchange(good({ resource: undefined, audience: 'urn:voidkey:key:GCP_DEPLOY', scope: 'https://www.googleapis.com/auth/cloud-platform' }));
    expect(answer.status).toBe(200);
    expect(answer.body.scope).toBeUndefined();
    expect(answer.body.access_token).toMatch(/^ya29\./);
  });

  it.each<[string, Record<string, string | undefined>, number, string, RegExp]>([
    ['no grant_type', { grant_type: undefined }, 400, 'invalid_request', /'grant_type' parameter is required/],
    ['another grant', { grant_type: 'client_credentials' }, 400, 'unsupported_grant_type', /grant_type must be urn:ietf:params:oauth:grant-type:token-exchange/],
    ['no subject_token', { subject_token: undefined }, 400, 'invalid_request', /'subject_token' parameter is required/],
    ['no subject_token_type', { subject_token_type: undefined }, 400, 'invalid_request', /'subject_token_type' parameter is required/],
    ['a SAML subject token type', { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 400, 'invalid_request', /subject_token_type must be one of/],
    ['an actor token', { actor_token: 'x' }, 400, 'invalid_request', /actor_token is not supported/],
    ['an unknown requested_token_type', { requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 400, 'invalid_request', /requested_token_type must be one of/],
    ['a requested_token_type the key does not issue', { requested_token_type: JWT_TYPE }, 400, 'invalid_request', /issues urn:ietf:params:oauth:token-type:access_token, not the requested_token_type/],
    ['a scope the key does not carry', { scope: 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/gmail.send' }, 400, 'invalid_scope', /key 'GCP_DEPLOY' does not carry the requested scope/],
    ['a blank scope', { scope: '  ' }, 400, 'invalid_scope', /scope must be 1 to 32 space-separated/],
    ['an Azure scope on the GCP key', { scope: 'https://management.azure.com/.default' }, 400, 'invalid_scope', /does not carry the requested scope/],
    ['no key', { resource: undefined }, 400, 'invalid_request', /name the key as resource=urn:voidkey:key:<KEY> or audience=<KEY>/],
    ['a resource that is no key', { resource: 'https://example.com' }, 400, 'invalid_target', /resource must be urn:voidkey:key:<KEY>/],
    ['resource and audience naming different keys', { audience: 'AZURE_DEPLOY' }, 400, 'invalid_target', /resource and audience name different keys/],
    ['an AWS key', { resource: 'urn:voidkey:key:AWS_DEPLOY' }, 400, 'invalid_target', /key 'AWS_DEPLOY' is not a single token; mint it at \/credentials\/mint/],
    ['a MinIO key', { resource: 'urn:voidkey:key:ARTIFACTS' }, 400, 'invalid_target', /mint it at \/credentials\/mint/],
    ['a GCP key that outputs no access token', { resource: 'urn:voidkey:key:GCP_PROJECT_ONLY' }, 400, 'invalid_target', /not a single token/],
    ['a key not granted', { resource: 'urn:voidkey:key:AWS_READONLY_NOPE' }, 403, 'invalid_target', /this token may not mint 'AWS_READONLY_NOPE'/],
    ['a forged subject token', { subject_token: `${'eyJhbGciOiJSUzI1NiJ9'}.${Buffer.from('{"iss":"x"}').toString('base64url')}.c2ln` }, 400, 'invalid_grant', /./],
  ])('%s is refused (the positive control passes on the same fixture)', async (_name, overrides, status, error, description) => {
    expect((await exchange(good())).status).toBe(200);
    expectRefusal(await exchange(good(overrides)), status, error, description);
  });

  it('an expired subject token is invalid_grant', async () => {
    expect((await exchange(good())).status).toBe(200);
    const expired = await sandbox.github.githubToken({ repository_id: '123456789', exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 });
    expectRefusal(await exchange(good({ subject_token: expired })), 400, 'invalid_grant', /expired/);
  });

  it('a token no identity matches is invalid_target 403', async () => {
    expect((await exchange(good())).status).toBe(200);
    const stranger = await sandbox.github.githubToken({ sub: 'repo:evil/app:ref:refs/heads/main', repository_id: '1' });
    expectRefusal(await exchange(good({ subject_token: stranger })), 403, 'invalid_target', /./);
  });

  it('a parameter sent twice is invalid_request', async () => {
    expect((await exchange(good())).status).toBe(200);
    expectRefusal(await post(`${form(good())}&resource=urn%3Avoidkey%3Akey%3AAZURE_DEPLOY`), 400, 'invalid_request', /'resource' parameter appears more than once/);
  });

  it('JSON is refused with 415 invalid_request; the mint route still refuses a form', async () => {
    expect((await exchange(good())).status).toBe(200);
    expectRefusal(await post(JSON.stringify(good()), { 'content-type': 'application/json' }), 415, 'invalid_request', /application\/x-www-form-urlencoded/);
    const mint = await post(form({ keys: 'GCP_DEPLOY' }), { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` }, '/credentials/mint');
    expect({ status: mint.status, error: mint.body.error }).toEqual({ status: 415, error: 'unsupported_media_type' });
  });

  it('an Authorization header is invalid_request', async () => {
    expect((await exchange(good())).status).toBe(200);
    expectRefusal(await post(form(good()), { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` }), 400, 'invalid_request', /no Authorization header/);
  });

  it('a subject token in the query string is refused by the transport guard, as RFC 6749 JSON', async () => {
    expect((await exchange(good())).status).toBe(200);
    const response = await fetch(`${sandbox.broker.url}/oauth2/token?subject_token=${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(good()) });
    const text = await response.text();
    expectRefusal({ status: response.status, headers: response.headers, body: JSON.parse(text) as Record<string, unknown>, text }, 400, 'invalid_request', /token in the query string is refused/);
  });

  it('GET is 405 with Allow: POST', async () => {
    const response = await fetch(`${sandbox.broker.url}/oauth2/token`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ error: 'invalid_request', code: 'ERR_METHOD_NOT_ALLOWED' });
  });

  it('GET /.well-known/oauth-authorization-server names the token endpoint and the grant (RFC 8414)', async () => {
    const response = await fetch(`${sandbox.broker.url}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      issuer: 'https://broker.example.com',
      token_endpoint: 'https://broker.example.com/oauth2/token',
      grant_types_supported: [GRANT],
      token_endpoint_auth_methods_supported: ['none'],
    });
  });

  it('the real google-auth-library gets the GCP key’s token from an external_account file, and refreshes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-exchange-'));
    const tokenFile = join(dir, 'oidc-token');
    writeFileSync(tokenFile, token);
    const client = ExternalAccountClient.fromJSON({
      type: 'external_account',
      audience: 'urn:voidkey:key:GCP_DEPLOY',
      subject_token_type: JWT_TYPE,
      token_url: `${sandbox.broker.url}/oauth2/token`,
      credential_source: { file: tokenFile },
      // Every call counts as near expiry: each getAccessToken refreshes through the broker.
      eagerRefreshThresholdMillis: 3_600_000,
    } as Parameters<typeof ExternalAccountClient.fromJSON>[0])!;
    const first = await client.getAccessToken();
    expect(first.token).toMatch(/^ya29\./);
    const expiry = client.credentials.expiry_date!;
    expect(expiry).toBeGreaterThan(Date.now() + 1_700_000);
    // A fresh CI token, as a CI runner writes one: the refresh presents it.
    writeFileSync(tokenFile, await sandbox.github.githubToken({ repository_id: '123456789' }));
    const second = await client.getAccessToken();
    expect(second.token).toMatch(/^ya29\./);
    expect(second.token).not.toBe(first.token);
    // Negative beside it: a file holding a token no identity matches gets the broker's refusal, not a token.
    writeFileSync(tokenFile, await sandbox.github.githubToken({ sub: 'repo:evil/app:ref:refs/heads/main', repository_id: '1' }));
    await expect(client.getAccessToken()).rejects.toThrow(/invalid_target/);
  });

  it('a broker-jwt key mints through /credentials/mint and /oauth2/token, and verifies against the broker\'s published JWKS', async () => {
    const jwks = createRemoteJWKSet(new URL(`${sandbox.broker.url}/.well-known/jwks.json`));
    const expectations = { issuer: 'https://broker.example.com', audience: 'vault.example.com' };
    const minted = await mintAt<Record<string, { credentials: Record<string, string>; expiresAt: string }>>(sandbox.broker.url, token, ['VAULT_JWT']);
    expect(minted.status).toBe(200);
    const viaMint = minted.body.VAULT_JWT!;
    const { payload } = await jwtVerify(viaMint.credentials.VAULT_JWT!, jwks, expectations);
    expect(payload).toMatchObject({ sub: 'voidkey:key:VAULT_JWT', repository: 'acme/app', team: 'platform', act: { sub: 'repo:acme/app:ref:refs/heads/main' } });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(viaMint.credentials.VAULT_JWT_EXPIRES_AT).toBe(new Date(payload.exp! * 1000).toISOString());
    expect(viaMint.expiresAt).toBe(new Date(payload.exp! * 1000).toISOString());

    const exchanged = await exchange(good({ resource: 'urn:voidkey:key:VAULT_JWT', requested_token_type: JWT_TYPE }));
    expect(exchanged.status).toBe(200);
    expect(exchanged.body).toMatchObject({ issued_token_type: JWT_TYPE, token_type: 'Bearer' });
    expect(exchanged.body.scope).toBeUndefined();
    const viaExchange = await jwtVerify(exchanged.body.access_token as string, jwks, expectations);
    expect(viaExchange.payload.jti).not.toBe(payload.jti);
    // Negative on the same fixture: another audience does not verify, and an access-token request is refused.
    await expect(jwtVerify(exchanged.body.access_token as string, jwks, { ...expectations, audience: 'other.example.com' })).rejects.toThrow(/aud/);
    expectRefusal(await exchange(good({ resource: 'urn:voidkey:key:VAULT_JWT', requested_token_type: ACCESS_TOKEN_TYPE })), 400, 'invalid_request', /issues urn:ietf:params:oauth:token-type:jwt/);
  });

  it('voidkey exchange prints the RFC 8693 answer; a refusal is the broker\'s message and exit code', async () => {
    const ok = await runCli(['exchange', '--key', 'GCP_DEPLOY', '--broker-url', sandbox.broker.url], { env: { VOIDKEY_OIDC_TOKEN: token } });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ access_token: expect.stringMatching(/^ya29\./) as unknown, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer' });
    const refused = await runCli(['exchange', '--key', 'AWS_DEPLOY', '--broker-url', sandbox.broker.url], { env: { VOIDKEY_OIDC_TOKEN: token } });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/invalid_target.*key 'AWS_DEPLOY' is not a single token; mint it at \/credentials\/mint/);
    expect(refused.stderr).not.toContain(token);
  });

  it('voidkey gcp-credential-config writes an external_account file the real google-auth-library uses through the broker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-gcp-config-'));
    const tokenFile = join(dir, 'oidc-token');
    const configFile = join(dir, 'gcp.json');
    writeFileSync(tokenFile, token);
    const written = await runCli(['gcp-credential-config', '--key', 'GCP_DEPLOY', '--token-source', `file:${tokenFile}`, '--output', configFile, '--broker-url', sandbox.broker.url]);
    expect(written.stderr).toBe('');
    expect(written.code).toBe(0);
    const file = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    expect(file).toEqual({
      type: 'external_account',
      audience: 'urn:voidkey:key:GCP_DEPLOY',
      subject_token_type: JWT_TYPE,
      token_url: `${sandbox.broker.url}/oauth2/token`,
      credential_source: { file: tokenFile },
    });
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    const client = ExternalAccountClient.fromJSON({ ...file, eagerRefreshThresholdMillis: 3_600_000 } as Parameters<typeof ExternalAccountClient.fromJSON>[0])!;
    const first = await client.getAccessToken();
    expect(first.token).toMatch(/^ya29\./);
    const second = await client.getAccessToken();
    expect(second.token).not.toBe(first.token);

    // The GitHub source: the ID-token endpoint and its bearer header, the audience asked for.
    const github = await runCli(['gcp-credential-config', '--key', 'GCP_DEPLOY', '--token-source', 'github', '--audience', 'https://broker.example.com', '--broker-url', sandbox.broker.url], {
      env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-bearer' },
    });
    expect(github.code).toBe(0);
    expect((JSON.parse(github.stdout) as { credential_source: unknown }).credential_source).toEqual({
      url: 'https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&audience=https%3A%2F%2Fbroker.example.com',
      headers: { Authorization: 'Bearer request-bearer' },
      format: { type: 'json', subject_token_field_name: 'value' },
    });
    // Negative beside it: no token source outside CI is a usage error, not a file.
    const none = await runCli(['gcp-credential-config', '--key', 'GCP_DEPLOY', '--broker-url', sandbox.broker.url], { env: {} });
    expect({ code: none.code, stdout: none.stdout }).toEqual({ code: 2, stdout: '' });
    expect(none.stderr).toMatch(/--token-source github\|gitlab\|file:PATH\|url:URL/);
  });
});
