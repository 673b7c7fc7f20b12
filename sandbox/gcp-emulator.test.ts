import { startGcpEmulator, type GcpEmulator } from './gcp-emulator';
import { startTokenIssuer, type TokenIssuer } from './token-issuer';

// The emulator's own wire contract, spoken to directly (the provider tests use it through google-auth-library).

const WIP = '//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/ci-pool/providers/broker';
const SA = 'deployer@acme.iam.gserviceaccount.com';

let idp: TokenIssuer;
let gcp: GcpEmulator;

beforeAll(async () => {
  idp = await startTokenIssuer();
  gcp = await startGcpEmulator({
    trust: { issuer: idp.issuer, jwksUri: idp.jwksUri },
    workloadIdentityProvider: WIP,
    serviceAccounts: { [SA]: { members: ['principal://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/ci-pool/subject/broker'] } },
  });
});

afterAll(async () => {
  await gcp.close();
  await idp.close();
});

beforeEach(() => gcp.reset());

const sign = (aud: string, expiresIn = 300) => idp.sign({ sub: 'broker', aud }, { expiresIn });

function exchangeFields(subjectToken: string, audience = WIP): Record<string, string> {
  return {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    audience,
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  };
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const postForm = (fields: Record<string, string>) => post(gcp.stsEndpoint, new URLSearchParams(fields).toString(), { 'content-type': 'application/x-www-form-urlencoded' });

async function federatedToken(): Promise<string> {
  const { body } = await postForm(exchangeFields(await sign(WIP)));
  return body.access_token as string;
}

const generate = (bearer: string, body: object) =>
  post(`${gcp.iamCredentialsEndpoint}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`, JSON.stringify(body), { 'content-type': 'application/json', authorization: `Bearer ${bearer}` });

describe('gcp emulator: STS', () => {
  it('exchanges a form or a JSON request for a federated token, in RFC 8693 shape', async () => {
    const form = await postForm(exchangeFields(await sign(WIP)));
    const json = await post(gcp.stsEndpoint, JSON.stringify(exchangeFields(await sign(`https:${WIP}`))), { 'content-type': 'application/json' });
    for (const answer of [form, json]) {
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ access_token: expect.stringMatching(/^emu-federated\./), issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 });
    }
    expect(gcp.calls('sts')).toBe(2);
  });

  it.each([
    ['a token for another audience', async () => exchangeFields(await sign('https://elsewhere.example.com')), 'invalid_grant'],
    ['an expired token', async () => exchangeFields(await sign(WIP, -60)), 'invalid_grant'],
    ['another pool provider', async () => exchangeFields(await sign(WIP), WIP.replace('broker', 'other')), 'invalid_target'],
    ['another grant type', async () => ({ ...exchangeFields(await sign(WIP)), grant_type: 'client_credentials' }), 'unsupported_grant_type'],
  ])('refuses %s with Google’s STS error shape', async (_label, fields, error) => {
    const answer = await postForm(await fields());
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error, error_description: expect.any(String) });
  });
});

describe('gcp emulator: generateAccessToken', () => {
  it('issues the account’s token for a federated bearer, and records it', async () => {
    const answer = await generate(await federatedToken(), { scope: ['s1'], lifetime: '3600s' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ accessToken: expect.stringMatching(/^ya29\.emu-/), expireTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    expect(gcp.issued).toEqual([expect.objectContaining({ serviceAccount: SA, scopes: ['s1'], lifetimeSeconds: 3600, accessToken: answer.body.accessToken })]);
  });

  it.each([
    ['an unknown bearer', async () => 'not-issued-here', { scope: ['s1'] }, 401, 'UNAUTHENTICATED'],
    ['no scope', federatedToken, { lifetime: '60s' }, 400, 'INVALID_ARGUMENT'],
    ['a lifetime beyond an hour', federatedToken, { scope: ['s1'], lifetime: '3601s' }, 400, 'INVALID_ARGUMENT'],
    ['a delegate the principal may not use', federatedToken, { scope: ['s1'], delegates: ['projects/-/serviceAccounts/hop@acme.iam.gserviceaccount.com'] }, 403, 'PERMISSION_DENIED'],
  ])('refuses %s with Google’s API error shape', async (_label, bearer, body, code, status) => {
    const answer = await generate(await bearer(), body);
    expect(answer.status).toBe(code);
    expect(answer.body).toMatchObject({ error: { code, status, message: expect.any(String) } });
    expect(gcp.issued).toHaveLength(0);
  });

  it('answers faults in order, then itself again', async () => {
    gcp.failNext('generateAccessToken', { status: 503, body: { error: { code: 503, status: 'UNAVAILABLE', message: 'down' } } });
    const bearer = await federatedToken();
    expect((await generate(bearer, { scope: ['s1'] })).status).toBe(503);
    expect((await generate(bearer, { scope: ['s1'] })).status).toBe(200);
    expect(gcp.calls('generateAccessToken')).toBe(2);
  });
});
