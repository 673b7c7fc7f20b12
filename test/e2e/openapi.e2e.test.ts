import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { ROUTES } from '../../broker-server/error-filter';
import { buildOpenApi } from '../../broker-server/openapi';
import { REPO_ROOT } from '../../sandbox/broker-process';
import { startTokenIssuer } from '../../sandbox/token-issuer';
import { startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(90_000);

type Json = Record<string, unknown>;

interface Answer {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly contentType: string;
  readonly body: unknown;
}

const documented = readFileSync(join(REPO_ROOT, 'docs/api.md'), 'utf8')
  .split('\n')
  .map((line) => /^\| (\d{3}) \| `([a-z_]+)` \| `(ERR_[A-Z_]+)` \|/.exec(line))
  .filter((match): match is RegExpExecArray => match !== null)
  .map(([, status, error, code]) => ({ status: Number(status), error: error!, code: code! }));

/**
 * docs/api.md codes no answer of this suite's sandbox produces, each with the test that
 * produces it elsewhere. Their schemas are still checked to list them (below).
 */
const PRODUCED_ELSEWHERE: Readonly<Record<string, string>> = {
  ERR_BROKER_AUTH_FAILED: 'the broker token is cached after the first mint (broker-auth.e2e.test.ts)',
  ERR_BROKER_AUTH_UNAVAILABLE: 'as above (broker-token.test.ts)',
  ERR_AUDIT_UNAVAILABLE: 'needs an unwritable audit sink with failClosed (server.e2e.test.ts)',
  ERR_SHUTTING_DOWN: 'needs a process caught while draining after SIGTERM (broker-server unit tests)',
  ERR_CONFIG_INVALID: 'Lambda only (lambda.e2e.test.ts)',
  ERR_STARTUP_FAILED: 'Lambda only: a start that fails after the config loaded',
  ERR_INTERNAL: 'a bug: never caused by input',
  ERR_SCOPE_INVALID: 'only the token endpoint, as RFC 6749 invalid_scope (token-exchange.e2e.test.ts)',
  ERR_KEY_NOT_EXCHANGEABLE: 'only the token endpoint, as RFC 6749 invalid_target (token-exchange.e2e.test.ts)',
  ERR_POLICY_DENIED: 'needs a config with a policy section (policy.e2e.test.ts)',
  ERR_POLICY_UNAVAILABLE: 'needs a failing external PDP (policy.e2e.test.ts)',
  ERR_REQUEST_TIMEOUT: 'needs a client that sends its headers too slowly (transport.e2e.test.ts)',
  ERR_IDP_TIMEOUT: 'needs a hanging JWKS endpoint and an empty cache (idp-faults.e2e.test.ts)',
  ERR_BROKER_AUTH_TIMEOUT: 'needs a hanging broker token endpoint before the token is cached (idp-faults.e2e.test.ts)',
};

/** Checks a real answer against the document: status listed, schema valid, headers present. */
function checker(doc: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, formats: { 'date-time': (text: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(text) && !Number.isNaN(Date.parse(text)) } });
  ajv.addSchema(doc, 'openapi.json');
  const resolve = (node: Json): Json => (typeof node.$ref === 'string' ? resolve(pointer(doc, node.$ref)) : node);
  return (answer: Answer): string[] => {
    const problems: string[] = [];
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, Json> }>>;
    const operation = paths[answer.path]?.[answer.method.toLowerCase()];
    const framework = answer.status === 404 || answer.status === 405 ? (doc.components as { responses: Record<string, Json> }).responses[`Error${answer.status}`] : undefined;
    const declared = operation?.responses[String(answer.status)] ?? framework;
    if (declared === undefined) return [`${answer.method} ${answer.path} does not document status ${answer.status}`];
    const response = resolve(declared);
    for (const name of Object.keys((response.headers ?? {}) as Json)) {
      if (!answer.headers.has(name)) problems.push(`header ${name} missing`);
    }
    const content = (response.content ?? {}) as Record<string, { schema: Json }>;
    const media = Object.keys(content).find((type) => answer.contentType.startsWith(type));
    if (media === undefined) return [...problems, `content type ${answer.contentType} is not one of ${Object.keys(content).join(', ')}`];
    const schemaRef = content[media]!.schema.$ref as string | undefined;
    const validate = ajv.compile(schemaRef ? { $ref: `openapi.json${schemaRef}` } : content[media]!.schema);
    if (!validate(answer.body)) problems.push(...(validate.errors ?? []).map((error) => `${error.instancePath || 'body'} ${error.message ?? ''}`));
    return problems;
  };
}

function pointer(doc: Json, ref: string): Json {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, part) => (node as Json)[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc) as Json;
}

async function answerOf(name: string, method: string, url: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url + path, { method, ...init });
  const contentType = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return { name, method, path: path.split('?')[0]!, status: response.status, headers: response.headers, contentType, body: contentType.startsWith('application/json') ? JSON.parse(text) : text };
}

describe('the OpenAPI document', () => {
  const doc = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/openapi.json'), 'utf8')) as Json;

  it('is what the code builds, and a valid OpenAPI 3.1 document', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(doc).toEqual(buildOpenApi(version));
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect({ valid: result.valid, errors: result.errors ?? null }).toEqual({ valid: true, errors: null });
    expect(validator.version).toBe('3.1');
    // The validator is no rubber stamp: a response without its required description fails.
    const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses: Record<string, Json> }>> };
    delete broken.paths['/health']!.get!.responses['200']!.description;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('describes every route the server answers, with its method (a new route needs its paths entry)', () => {
    const paths = doc.paths as Record<string, Record<string, unknown>>;
    const described = Object.fromEntries(Object.entries(paths).map(([path, operations]) => [path, Object.keys(operations).map((method) => method.toUpperCase()).join(', ')]));
    expect(described).toEqual(ROUTES);
  });

  it('lists every error code of docs/api.md under its status', () => {
    const schemas = (doc.components as { schemas: Record<string, { properties: { code: { enum: string[] }; error: { enum: string[] } } }> }).schemas;
    expect(documented.length).toBeGreaterThan(30);
    for (const row of documented) {
      expect({ row, code: schemas[`Error${row.status}`]?.properties.code.enum.includes(row.code), error: schemas[`Error${row.status}`]?.properties.error.enum.includes(row.error) }).toEqual({ row, code: true, error: true });
    }
  });
});

describe('the real server answers as its OpenAPI document says', () => {
  let sandbox: Sandbox;
  let served: Json;
  const answers: Answer[] = [];
  beforeAll(async () => {
    sandbox = await startSandbox({
      transformConfig: (config) =>
        config
          .replace('clientIdps:', 'server:\n  rateLimit:\n    requestsPerMinute: 1\n    burst: 80\nclientIdps:')
          // A key whose session name a claim fills: a token without that claim gets 403 claim_value_invalid.
          .replace('      AWS_READONLY:\n        provider: aws-sandbox\n', '      AWS_READONLY:\n        provider: aws-sandbox\n        roleSessionName: "ci-${claims.run_id}"\n'),
    });
    const response = await fetch(`${sandbox.broker.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    served = (await response.json()) as Json;
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const url = () => sandbox.broker.url;
  const token = (overrides: Record<string, unknown> = {}, options = {}) => sandbox.github.githubToken({ repository_id: '123456789', ...overrides }, options);
  const mint = async (name: string, body: unknown, bearer?: string, headers: Record<string, string> = {}) =>
    answerOf(name, 'POST', url(), '/credentials/mint', {
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const record = (answer: Answer, status: number, error?: string) => {
    expect({ name: answer.name, status: answer.status, error: (answer.body as Json)?.error }).toEqual({ name: answer.name, status, error: error ?? (answer.body as Json)?.error });
    answers.push(answer);
    return answer;
  };

  it('serves the document the build wrote to docs/openapi.json', () => {
    expect(served).toEqual(JSON.parse(readFileSync(join(REPO_ROOT, 'docs/openapi.json'), 'utf8')));
  });

  it('answers every route and every error code the sandbox can produce within the document', async () => {
    const good = await token();
    const header = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Json;
    const [h, p, s] = good.split('.') as [string, string, string];
    const reheader = (extra: Json) => `${Buffer.from(JSON.stringify({ ...header(h), ...extra })).toString('base64url')}.${p}.${s}`;
    const other = await startTokenIssuer({ audience: 'https://broker.example.com' });
    try {
      // Successes first: the positive control for every refusal below.
      record(await mint('mint', { keys: ['AWS_DEPLOY', 'ARTIFACTS'] }, good), 200);
      record(await answerOf('keys', 'GET', url(), '/credentials/keys', { headers: { authorization: `Bearer ${await token()}` } }), 200);
      record(await answerOf('idp-providers', 'GET', url(), '/credentials/idp-providers'), 200);
      for (const path of ['/health', '/healthz', '/readyz', '/metrics', '/openapi.json']) record(await answerOf(path, 'GET', url(), path), 200);

      record(await mint('unknown field', { keys: ['AWS_DEPLOY'], role: 'admin' }, await token()), 400, 'request_invalid');
      record(await answerOf('token in the query', 'GET', url(), `/credentials/keys?token=${good}`), 400, 'request_invalid');
      record(await mint('duration', { keys: ['AWS_DEPLOY'], duration: 7200 }, await token()), 400, 'duration_invalid');
      record(await mint('idp mismatch', { keys: ['AWS_DEPLOY'], idpName: 'gitlab' }, await token()), 400, 'idp_mismatch');
      record(await mint('no token', { keys: ['AWS_DEPLOY'] }), 401, 'token_missing');
      record(await mint('not a JWT', { keys: ['AWS_DEPLOY'] }, 'abc'), 401, 'token_malformed');
      record(await mint('too large', { keys: ['AWS_DEPLOY'], oidcToken: `${'a'.repeat(20_000)}.b.c` }), 401, 'token_too_large');
      record(await mint('unknown issuer', { keys: ['AWS_DEPLOY'] }, await other.githubToken({ repository_id: '123456789' })), 401, 'issuer_unknown');
      record(await mint('HS256', { keys: ['AWS_DEPLOY'] }, await sandbox.github.hmacToken(sandbox.github.githubClaims({ repository_id: '123456789' }))), 401, 'algorithm_not_allowed');
      record(await mint('unknown kid', { keys: ['AWS_DEPLOY'] }, reheader({ kid: 'no-such-key' })), 401, 'key_not_found');
      record(await mint('access token', { keys: ['AWS_DEPLOY'] }, reheader({ typ: 'at+jwt' })), 401, 'token_type_invalid');
      record(await mint('bad signature', { keys: ['AWS_DEPLOY'] }, `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`), 401, 'signature_invalid');
      const now = Math.floor(Date.now() / 1000);
      record(await mint('expired', { keys: ['AWS_DEPLOY'] }, await token({}, { iat: now - 900, expiresIn: 300 })), 401, 'token_expired');
      record(await mint('not yet valid', { keys: ['AWS_DEPLOY'] }, await token({}, { notBefore: now + 900 })), 401, 'token_not_yet_valid');
      record(await mint('audience', { keys: ['AWS_DEPLOY'] }, await token({ aud: 'https://elsewhere.example.com' })), 401, 'audience_mismatch');
      record(await mint('no sub', { keys: ['AWS_DEPLOY'] }, await token({ sub: undefined })), 401, 'token_claim_invalid');
      record(await mint('stranger', { keys: ['AWS_DEPLOY'] }, await token({ sub: 'repo:evil/app:ref:refs/heads/main' })), 403, 'no_identity_matched');
      record(await mint('claim template, positive control', { keys: ['AWS_READONLY'] }, await token()), 200);
      record(await mint('claim a template needs is missing', { keys: ['AWS_READONLY'] }, await token({ run_id: undefined })), 403, 'claim_value_invalid');
      record(await mint('not granted', { keys: ['PROD_ADMIN'] }, await token()), 403, 'key_not_permitted');
      record(await answerOf('no route', 'GET', url(), '/nowhere'), 404, 'not_found');
      record(await answerOf('huge headers', 'GET', url(), '/health', { headers: { 'x-padding': 'a'.repeat(20_000) } }), 431, 'headers_too_large');
      record(await answerOf('wrong method', 'GET', url(), '/credentials/mint'), 405, 'method_not_allowed');
      record(await mint('too big', JSON.stringify({ keys: ['AWS_DEPLOY'], pad: 'x'.repeat(70_000) }), await token()), 413, 'payload_too_large');
      record(await mint('not JSON', 'keys=AWS_DEPLOY', await token(), { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');

      sandbox.aws.failNext(1, { code: 'AccessDenied' });
      record(await mint('STS refuses', { keys: ['AWS_DEPLOY'] }, await token()), 502, 'provider_rejected');
      sandbox.aws.failNext(1, { code: 'AccessDenied' });
      record(await mint('one of two keys refused', { keys: ['AWS_DEPLOY', 'ARTIFACTS'] }, await token()), 502, 'mint_failed');
      sandbox.aws.respondNext(1, { status: 200, body: '<html>not sts</html>', contentType: 'text/html' });
      record(await mint('STS garbage', { keys: ['AWS_DEPLOY'] }, await token()), 502, 'provider_bad_response');
      sandbox.aws.failNext(3, { code: 'ServiceUnavailable', status: 503 });
      record(await mint('STS unavailable', { keys: ['AWS_DEPLOY'] }, await token()), 503, 'provider_unavailable');
      sandbox.aws.hangNext('always');
      record(await mint('STS silent', { keys: ['AWS_DEPLOY'] }, await token()), 504, 'provider_timeout');
      sandbox.aws.clearFaults();

      // The rate limit (burst 80, one more a minute): bounded by count, not time.
      let limited: Answer | undefined;
      for (let i = 0; i < 200 && limited === undefined; i += 1) {
        const answer = await answerOf('flood', 'GET', url(), '/credentials/keys', { headers: { authorization: 'Bearer abc' } });
        if (answer.status === 429) limited = answer;
      }
      expect(limited).toBeDefined();
      record(limited!, 429, 'rate_limited');

      // A fresh broker whose IdP's keys cannot be fetched: not ready, and no key to verify with.
      sandbox.github.failJwks('always', 503);
      await sandbox.restartBroker(sandbox.config);
      record(await answerOf('readyz, IdP down', 'GET', url(), '/readyz'), 503);
      record(await mint('IdP down', { keys: ['AWS_DEPLOY'] }, await token()), 503, 'idp_unavailable');
      sandbox.github.clearFaults();
    } finally {
      await other.close();
    }

    const check = checker(served);
    const problems = answers.flatMap((answer) => check(answer).map((problem) => `${answer.name} (${answer.method} ${answer.path} ${answer.status}): ${problem}`));
    expect(problems).toEqual([]);

    const seen = new Set(answers.map((answer) => (answer.body as Json)?.code).filter((code) => typeof code === 'string'));
    const missing = documented.filter((row) => !seen.has(row.code) && !Object.hasOwn(PRODUCED_ELSEWHERE, row.code)).map((row) => row.code);
    expect(missing).toEqual([]);
  });

  it('holds the answers to the schema: a changed answer fails (the check is not a no-op)', () => {
    const check = checker(served);
    const minted = answers.find((answer) => answer.name === 'mint')!;
    expect(check(minted)).toEqual([]);
    const withExtra = { ...minted, body: { ...(minted.body as Json), AWS_DEPLOY: { ...((minted.body as Json).AWS_DEPLOY as Json), secret: 'x' } } };
    expect(check(withExtra)).not.toEqual([]);
    const refusal = answers.find((answer) => answer.name === 'expired')!;
    expect(check(refusal)).toEqual([]);
    expect(check({ ...refusal, body: { ...(refusal.body as Json), error: 'made_up' } })).not.toEqual([]);
    expect(check({ ...refusal, status: 418 })).not.toEqual([]);
  });
});
