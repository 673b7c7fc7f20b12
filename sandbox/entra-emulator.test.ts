import { request } from 'node:https';
import { startEntraEmulator, type EntraEmulator } from './entra-emulator';
import { startTokenIssuer, type TokenIssuer } from './token-issuer';

// The emulator's own wire contract, spoken to directly over HTTPS (the provider tests use it through @azure/identity).

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const APP = '11111111-2222-4333-8444-555555555555';
const AUDIENCE = 'api://AzureADTokenExchange';

let idp: TokenIssuer;
let entra: EntraEmulator;

beforeAll(async () => {
  idp = await startTokenIssuer();
  entra = await startEntraEmulator({
    trust: { issuer: idp.issuer, jwksUri: idp.jwksUri, audience: AUDIENCE },
    federatedCredentials: [{ tenantId: TENANT, clientId: APP, issuer: idp.issuer, subject: 'broker' }],
  });
});

afterAll(async () => {
  await entra.close();
  await idp.close();
});

beforeEach(() => entra.reset());

const assertion = ({ sub = 'broker', aud = AUDIENCE, expiresIn = 300 } = {}) => idp.sign({ sub, aud }, { expiresIn });

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

function call(method: 'GET' | 'POST', path: string, form?: Record<string, string>, trust: 'test CA' | 'public roots' = 'test CA'): Promise<Answer> {
  const ca = trust === 'test CA' ? entra.caPem : undefined;
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(`${entra.authorityHost}${path}`, { method, ca, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function tokenForm(overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    grant_type: 'client_credentials',
    client_id: APP,
    scope: 'https://management.azure.com/.default',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion(),
    ...overrides,
  };
}

describe('entra emulator', () => {
  it('serves OpenID metadata and tokens over HTTPS that only its test CA vouches for', async () => {
    const metadata = await call('GET', `/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(metadata.body).toMatchObject({ token_endpoint: `${entra.authorityHost}/${TENANT}/oauth2/v2.0/token`, issuer: `${entra.authorityHost}/${TENANT}/v2.0` });

    const token = await call('POST', `/${TENANT}/oauth2/v2.0/token`, await tokenForm());
    expect(token.status).toBe(200);
    expect(token.body).toEqual({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: expect.stringMatching(/^emu-entra\./) });
    expect(token.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(entra.issued).toEqual([expect.objectContaining({ tenantId: TENANT, clientId: APP, subject: 'broker' })]);

    await expect(call('GET', `/${TENANT}/v2.0/.well-known/openid-configuration`, undefined, 'public roots')).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it.each([
    ['an unknown tenant', '00000000-0000-4000-8000-000000000000', {}, 400, 'invalid_request', 90002],
    ['an unknown app', TENANT, { client_id: '99999999-8888-4777-8666-555555555555' }, 400, 'unauthorized_client', 700016],
    ['no client assertion', TENANT, { client_assertion: '' }, 401, 'invalid_client', 7000218],
    ['a scope without /.default', TENANT, { scope: 'https://management.azure.com/user_impersonation' }, 400, 'invalid_scope', 1002012],
    ['an expired assertion', TENANT, { exp: 'expired' }, 400, 'invalid_client', 700024],
    ['an assertion for another subject', TENANT, { sub: 'someone-else' }, 400, 'invalid_client', 700213],
    ['an assertion for another audience', TENANT, { aud: 'https://broker.example.com' }, 400, 'invalid_client', 700212],
  ])('refuses %s with Entra’s error JSON', async (_label, tenant, change, status, error, code) => {
    const { exp, sub, aud, ...fields } = change as Record<string, string>;
    const claims = { ...(sub ? { sub } : {}), ...(aud ? { aud } : {}), ...(exp ? { expiresIn: -60 } : {}) };
    const form = await tokenForm({ ...(Object.keys(claims).length > 0 ? { client_assertion: await assertion(claims) } : {}), ...fields });
    const answer = await call('POST', `/${tenant}/oauth2/v2.0/token`, form);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({
      error,
      error_description: expect.stringMatching(new RegExp(`^AADSTS${code}: `)),
      error_codes: [code],
      trace_id: expect.any(String),
      correlation_id: expect.any(String),
    });
    expect(entra.issued).toHaveLength(0);
  });
});
