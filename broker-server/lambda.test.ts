import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyResult, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { httpApiEvent, restApiEvent } from '../test/support/api-gateway-events';
import { startLocalIdp, type LocalIdp } from '../sandbox/local-idp';
import { BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText } from '../sandbox/sandbox-config';
import { startStsEmulator, type StsEmulator } from '../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../sandbox/token-issuer';
import { createLambdaHandler, type LambdaHandler, type LambdaResult } from './lambda';
import { createLogger } from './logger';

jest.setTimeout(60_000);

type Result = APIGatewayProxyResult & APIGatewayProxyStructuredResultV2;
const json = (result: LambdaResult) => JSON.parse((result as Result).body) as Record<string, unknown>;
const header = (result: LambdaResult, name: string) => (result as Result).headers?.[name];
/** STS writes expirations to the second. */
const wholeSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();

describe('Lambda handler (API Gateway REST and HTTP API events) against the local sandbox', () => {
  let github: TokenIssuer;
  let brokerIdp: LocalIdp;
  let aws: StsEmulator;
  let minio: StsEmulator;
  let config: string;
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;
  /** Every token, secret and credential the suite handled: none may reach a log line. */
  const handled: string[] = [clientSecret];
  const logs: string[] = [];
  const handlers: LambdaHandler[] = [];
  let requestCounter = 0;

  function newHandler(overrides: { config?: string } = {}): LambdaHandler {
    const handler = createLambdaHandler({
      source: { name: 'sandbox.yaml', read: () => overrides.config ?? config },
      env: { BROKER_CLIENT_SECRET: clientSecret },
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(line) } }),
    });
    handlers.push(handler);
    return handler;
  }
  const context = () => ({ awsRequestId: `0000aaaa-0000-4000-8000-${String(++requestCounter).padStart(12, '0')}` });

  async function githubToken(overrides: Record<string, unknown> = {}, options: { expiresIn?: number } = {}): Promise<string> {
    const token = await github.githubToken({ repository_id: '123456789', ...overrides }, options);
    handled.push(token);
    return token;
  }

  function rememberIssued(): void {
    for (const issued of [...aws.issued, ...minio.issued]) handled.push(issued.secretAccessKey, issued.sessionToken);
  }

  let shared: LambdaHandler;

  beforeAll(async () => {
    github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
    config = sandboxConfigText({ github, brokerIdp, aws, minio });
    shared = newHandler();
  });
  afterAll(async () => {
    await Promise.all(handlers.map((handler) => handler.close()));
    await Promise.all([github?.close(), brokerIdp?.close(), aws?.close(), minio?.close()]);
  });
  beforeEach(() => {
    aws.reset();
    minio.reset();
  });

  it('HTTP API (v2): mints with a Bearer token and answers in payload 2.0 shape', async () => {
    const token = await githubToken();
    const ctx = context();
    const result = await shared(
      httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ keys: ['AWS_DEPLOY'] }) }),
      ctx,
    );
    rememberIssued();
    expect(result.statusCode).toBe(200);
    expect(result.isBase64Encoded).toBe(false);
    expect(header(result, 'cache-control')).toBe('no-store');
    expect(header(result, 'x-request-id')).toBe(ctx.awsRequestId);
    expect((result as Result).multiValueHeaders).toBeUndefined();
    const [issued] = aws.issued;
    expect(json(result)).toEqual({
      AWS_DEPLOY: {
        credentials: {
          AWS_ACCESS_KEY_ID: issued!.accessKeyId,
          AWS_SECRET_ACCESS_KEY: issued!.secretAccessKey,
          AWS_SESSION_TOKEN: issued!.sessionToken,
          AWS_CREDENTIAL_EXPIRATION: wholeSeconds(issued!.expiration),
          AWS_REGION: 'us-east-1',
        },
        expiresAt: wholeSeconds(issued!.expiration),
        metadata: expect.objectContaining({ provider: 'aws-sandbox', type: 'aws-sts', identity: 'app-main' }),
      },
    });
  });

  it('REST API (v1): mints two keys with the token in the body, multi-value headers and a stage', async () => {
    const token = await githubToken();
    const result = await shared(
      restApiEvent({
        method: 'POST',
        path: '/credentials/mint',
        stage: 'prod',
        headers: { 'Content-Type': 'application/json', Accept: ['application/json', '*/*'] },
        body: JSON.stringify({ oidcToken: token, keys: ['AWS_DEPLOY', 'ARTIFACTS'] }),
      }),
      context(),
    );
    rememberIssued();
    expect(result.statusCode).toBe(200);
    const body = json(result) as Record<string, { credentials: Record<string, string> }>;
    expect(body.AWS_DEPLOY!.credentials.AWS_ACCESS_KEY_ID).toBe(aws.issued[0]!.accessKeyId);
    expect(body.ARTIFACTS!.credentials).toMatchObject({ MINIO_ACCESS_KEY: minio.issued[0]!.accessKeyId, MINIO_SECRET_KEY: minio.issued[0]!.secretAccessKey });
  });

  it('decodes a base64 request body', async () => {
    const token = await githubToken();
    const result = await shared(
      httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ oidcToken: token, keys: ['AWS_DEPLOY'] }), base64: true }),
      context(),
    );
    rememberIssued();
    expect(result.statusCode).toBe(200);
    expect(Object.keys(json(result))).toEqual(['AWS_DEPLOY']);
  });

  it.each([
    ['HTTP API, named stage in rawPath', () => httpApiEvent({ method: 'GET', path: '/credentials/idp-providers', stage: 'live' })],
    ['REST API, stage in requestContext only', () => restApiEvent({ method: 'GET', path: '/credentials/idp-providers', stage: 'live' })],
  ])('routes past the stage: %s', async (_name, event) => {
    const result = await shared(event(), context());
    expect(result.statusCode).toBe(200);
    expect(json(result)).toEqual([{ name: 'github-actions', isDefault: true }]);
  });

  it('401: an expired token gets the JSON error body and WWW-Authenticate, with the request id', async () => {
    const token = await githubToken({}, { expiresIn: -600 });
    const ctx = context();
    for (const event of [
      httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
      restApiEvent({ method: 'POST', path: '/credentials/mint', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }),
    ]) {
      const result = await shared(event, ctx);
      expect(result.statusCode).toBe(401);
      expect(header(result, 'www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(header(result, 'content-type')).toMatch(/^application\/json/);
      expect(json(result)).toEqual({ error: 'token_expired', code: 'ERR_TOKEN_EXPIRED', message: expect.any(String), requestId: ctx.awsRequestId });
    }
    expect(aws.calls).toBe(0);
  });

  it('keeps the server mapping for framework errors: 415, 405 with Allow, 404, and a token in the query string', async () => {
    const unsupported = await shared(httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'text/plain' }, body: 'hi' }), context());
    expect([unsupported.statusCode, json(unsupported).error]).toEqual([415, 'unsupported_media_type']);
    const wrongMethod = await shared(restApiEvent({ method: 'DELETE', path: '/credentials/mint' }), context());
    expect([wrongMethod.statusCode, header(wrongMethod, 'allow'), json(wrongMethod).error]).toEqual([405, 'POST', 'method_not_allowed']);
    const missing = await shared(httpApiEvent({ method: 'GET', path: '/nope' }), context());
    expect([missing.statusCode, json(missing).error]).toEqual([404, 'not_found']);
    const inQuery = await shared(restApiEvent({ method: 'GET', path: '/credentials/keys', query: { token: 'x.y.z' } }), context());
    expect([inQuery.statusCode, json(inQuery).error]).toEqual([400, 'request_invalid']);
  });

  it("applies the server's request rules: one Authorization header, UTF-8 bodies, no token in the query in any spelling", async () => {
    const token = await githubToken();
    const keys = (init: { headers?: Record<string, string | string[]>; query?: Record<string, string> }, v2 = false) =>
      shared((v2 ? httpApiEvent : restApiEvent)({ method: 'GET', path: '/credentials/keys', ...init }), context());
    const mint = (body: Buffer) =>
      shared(httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, base64: true }), context());
    const refusal = (result: LambdaResult) => [result.statusCode, json(result).error, json(result).message];
    const twice = [400, 'request_invalid', 'the request has more than one Authorization header'];
    const inQuery = [400, 'request_invalid', 'a token in the query string is refused (URLs get logged); use the Authorization header'];

    // Positive controls, then the same request with the rule broken.
    expect((await keys({ headers: { Authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    expect(refusal(await keys({ headers: { Authorization: [`Bearer ${token}`, 'Bearer other.token.value'] } }))).toEqual(twice);
    expect(refusal(await keys({ headers: { Authorization: `Bearer ${token}`, authorization: 'Bearer other.token.value' } }))).toEqual(twice);
    expect((await keys({ headers: { authorization: `Bearer ${token}` } }, true)).statusCode).toBe(200);
    expect(refusal(await keys({ headers: { authorization: [`Bearer ${token}`, 'Bearer other.token.value'] } }, true))).toEqual(twice);

    expect((await mint(Buffer.from('{"keys":["AWS_DEPLOY"]}'))).statusCode).toBe(200);
    rememberIssued();
    expect(refusal(await mint(Buffer.from([...Buffer.from('{"keys":["'), 0xc3, 0x28, ...Buffer.from('"]}')])))).toEqual([400, 'request_invalid', 'the request body is not valid UTF-8']);

    expect((await keys({ headers: { Authorization: `Bearer ${token}` }, query: { idpName: 'github-actions' } })).statusCode).toBe(200);
    for (const name of ['Access_Token', 'ACCESS_TOKEN', 'id_token']) {
      expect(refusal(await keys({ headers: { Authorization: `Bearer ${token}` }, query: { [name]: token } }))).toEqual(inQuery);
      expect(refusal(await keys({ headers: { authorization: `Bearer ${token}` }, query: { [name]: token } }, true))).toEqual(inQuery);
    }
  });

  it('answers with the standard headers, the handler\'s own answers included', async () => {
    const answers = [
      await shared(httpApiEvent({ method: 'GET', path: '/health' }), context()),
      await shared(restApiEvent({ method: 'GET', path: '/nope' }), context()),
      await shared({ source: 'aws.events' } as never, context()),
    ];
    expect(answers.map((result) => result.statusCode)).toEqual([200, 404, 400]);
    for (const result of answers) {
      expect((result as Result).headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache', 'x-content-type-options': 'nosniff', 'x-request-id': expect.any(String) });
    }
  });

  it("audits the gateway's source IP, not a spoofed X-Forwarded-For", async () => {
    const token = await githubToken();
    const ctx = context();
    await shared(
      restApiEvent({ method: 'GET', path: '/credentials/keys', sourceIp: '198.51.100.23', headers: { Authorization: `Bearer ${token}`, 'X-Forwarded-For': '10.66.66.66' } }),
      ctx,
    );
    const audit = logs.map((line) => JSON.parse(line) as { msg: string; audit?: { requestId: string; client: { address?: string } } }).find((line) => line.msg === 'audit' && line.audit?.requestId === ctx.awsRequestId);
    expect(audit?.audit?.client.address).toBe('198.51.100.23');
  });

  it('builds the app once per container: concurrent first invocations share it, and the JWKS is fetched once', async () => {
    const handler = newHandler();
    const jwksBefore = github.counts.jwks;
    const readyBefore = logs.filter((line) => line.includes('voidkey broker ready (lambda)')).length;
    const tokens = await Promise.all(Array.from({ length: 4 }, () => githubToken()));
    const first = await Promise.all(
      tokens.map((token) => handler(httpApiEvent({ method: 'GET', path: '/credentials/keys', headers: { authorization: `Bearer ${token}` } }), context())),
    );
    const later = [];
    for (const token of tokens) later.push(await handler(restApiEvent({ method: 'GET', path: '/credentials/keys', headers: { Authorization: `Bearer ${token}` } }), context()));
    expect([...first, ...later].map((result) => result.statusCode)).toEqual(Array(8).fill(200));
    expect(github.counts.jwks - jwksBefore).toBe(1);
    expect(logs.filter((line) => line.includes('voidkey broker ready (lambda)')).length - readyBefore).toBe(1);
  });

  it('an invalid config: every invocation answers 503 config_invalid, and the located problems are logged once', async () => {
    const handler = newHandler({ config: config.replace('    region: us-east-1\n', '    region: us-east-1\n    regoin: typo\n') });
    const before = logs.length;
    const results = await Promise.all([1, 2, 3].map(() => handler(httpApiEvent({ method: 'GET', path: '/health' }), context())));
    results.push(await handler(restApiEvent({ method: 'POST', path: '/credentials/mint', body: '{}' }), { awsRequestId: 'aws-request-7' }));
    for (const result of results) {
      expect(result.statusCode).toBe(503);
      expect(json(result)).toEqual({ error: 'config_invalid', code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/config/), requestId: expect.any(String) });
    }
    expect(json(results[3]!).requestId).toBe('aws-request-7');
    const problems = logs.slice(before).map((line) => JSON.parse(line) as { level: number; msg: string; issues?: string[] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ level: 50, msg: expect.stringMatching(/^config invalid/) });
    expect(problems[0]!.issues).toEqual([expect.stringMatching(/^sandbox\.yaml:\d+:\d+: accessProviders\[0\]\.regoin: /)]);
  });

  it('no config at all (neither VOIDKEY_CONFIG nor VOIDKEY_CONFIG_YAML): 503 config_invalid and says which variables', async () => {
    const handler = createLambdaHandler({ env: {}, logger: createLogger({ destination: { write: (line: string) => void logs.push(line) } }) });
    handlers.push(handler);
    const before = logs.length;
    const result = await handler(httpApiEvent({ method: 'GET', path: '/health' }), context());
    expect([result.statusCode, json(result).error]).toEqual([503, 'config_invalid']);
    expect(logs.slice(before).join('')).toContain('VOIDKEY_CONFIG_YAML');
  });

  it('answers a non-API Gateway event with 400 and logs only its field names', async () => {
    const result = await shared({ source: 'aws.events', 'detail-type': 'Scheduled Event' } as never, context());
    expect([result.statusCode, json(result).error]).toEqual([400, 'request_invalid']);
  });

  it('answers an event whose body is not text with 400 and logs neither the body nor a secret in it (positive control: the same event with the body as text)', async () => {
    const canary = 'canary-body-secret-7f3a';
    const asText = await shared(httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: ['AWS_DEPLOY'], oidcToken: canary }) }), context());
    expect(json(asText).error).not.toBe('request_invalid'); // reaches the broker: refused for its token, not its shape
    const before = logs.length;
    for (const body of [{ keys: ['AWS_DEPLOY'], oidcToken: canary }, [canary], 42, true]) {
      const result = await shared({ ...httpApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'application/json' } }), body } as never, context());
      expect([result.statusCode, json(result).error, json(result).message]).toEqual([400, 'request_invalid', "the event's body is not a string (API Gateway sends text, base64 when binary)"]);
    }
    expect(logs.slice(before).join('')).not.toContain(canary);
  });

  it('serves /metrics as text through the gateway', async () => {
    const result = await shared(httpApiEvent({ method: 'GET', path: '/metrics' }), context());
    expect(result.statusCode).toBe(200);
    expect(result.isBase64Encoded).toBe(false);
    expect((result as Result).body).toContain('voidkey_http_requests_total');
  });

  it('leaks nothing: no token, secret or credential in any log line, and no Authorization header', () => {
    expect(handled.length).toBeGreaterThan(10);
    const everything = logs.join('');
    for (const secret of handled) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/bearer /i);
  });
});
