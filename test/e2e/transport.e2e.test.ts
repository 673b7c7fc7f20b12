/**
 * The HTTP layer of the real server process, over bare sockets where no HTTP client would
 * send the request: the parser's own refusals, repeated headers, bytes that are not UTF-8,
 * tokens in URLs, slow and idle clients, and rate limits ahead of any parsing. Every
 * refusal is paired with a well-formed request on the same broker that succeeds.
 */
import { startBrokerProcess, type BrokerProcess } from '../../sandbox/broker-process';
import { rawConnect, rawRequest, type RawResponse } from '../support/raw-http';
import { startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

const withServerSection = (extra: string) => (config: string) => config.replace('clientIdps:', `server:\n${extra}clientIdps:`);
const request = (head: readonly string[], body: string | Buffer = '') => Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** The envelope and the headers every answer carries. */
function expectStandardAnswer(response: RawResponse | { status: number; headers: Readonly<Record<string, string>>; body: string }, status: number, error?: string): Record<string, unknown> {
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect({ status: response.status, error: body.error }).toEqual({ status, error: error ?? body.error });
  if (status >= 400) {
    expect(Object.keys(body).sort()).toEqual(['code', 'error', 'message', 'requestId']);
    expect(body.requestId).toBe(response.headers['x-request-id']);
  }
  expect(response.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache', 'x-content-type-options': 'nosniff' });
  expect(response.headers['content-type']).toMatch(/^application\/json; charset=utf-8$/);
  return body;
}

async function fetched(response: Response): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

describe('the HTTP layer of the real server', () => {
  let sandbox: Sandbox;
  let token: () => Promise<string>;
  beforeAll(async () => {
    sandbox = await startSandbox();
    token = () => sandbox.github.githubToken({ repository_id: '123456789' });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const port = () => sandbox.broker.port;
  const mintRequest = async (extraHeaders: readonly string[] = [], body = '{"keys":["AWS_DEPLOY"]}') =>
    request(['POST /credentials/mint HTTP/1.1', 'Host: broker', `Authorization: Bearer ${await token()}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...extraHeaders], body);

  describe("the HTTP parser's own refusals", () => {
    it.each([
      ['a header name with a space', request(['GET /health HTTP/1.1', 'Host: broker', 'Bad Header: x']), 400, 'request_invalid', 'the request is not valid HTTP/1.1'],
      ['a Content-Length that is not a number', request(['POST /credentials/mint HTTP/1.1', 'Host: broker', 'Content-Type: application/json', 'Content-Length: ten'], '{}'), 400, 'request_invalid', 'the request is not valid HTTP/1.1'],
      ['not HTTP at all', Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 'latin1'), 400, 'request_invalid', 'the request is not valid HTTP/1.1'],
      ['headers over 16 KiB', request(['GET /health HTTP/1.1', 'Host: broker', `X-Padding: ${'a'.repeat(20_000)}`]), 431, 'headers_too_large', 'the request headers are larger than 16 KiB'],
      [
        'chunk extensions over the limit',
        request(['POST /credentials/mint HTTP/1.1', 'Host: broker', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], `2;${'a'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`),
        413,
        'payload_too_large',
        "the request's chunk extensions are too large",
      ],
    ])('%s: refused in the JSON envelope, with the standard headers, and the connection closed', async (_name, bytes, status, error, message) => {
      // Positive control: the same broker answers a well-formed request on a fresh connection.
      expectStandardAnswer(await rawRequest(port(), request(['GET /health HTTP/1.1', 'Host: broker', 'Connection: close'])), 200);
      const response = await rawRequest(port(), bytes);
      expect(expectStandardAnswer(response, status, error).message).toBe(message);
      expect(response.headers.connection).toBe('close');
      expect(response.closedByServer).toBe(true);
    });
  });

  describe('ambiguous requests', () => {
    it.each([
      ['Authorization', async () => [`Authorization: Bearer ${await token()}`]],
      ['Content-Type', async () => ['Content-Type: text/plain']],
      ['Host', async () => ['Host: elsewhere']],
    ])('refuses a second %s header (400), where one is minted', async (name, extra) => {
      const good = await rawRequest(port(), await mintRequest());
      expect(expectStandardAnswer(good, 200).AWS_DEPLOY).toBeDefined();
      sandbox.aws.reset();
      const twice = await rawRequest(port(), await mintRequest(await extra()));
      expect(expectStandardAnswer(twice, 400, 'request_invalid').message).toBe(`the request has more than one ${name} header`);
      expect(sandbox.aws.calls).toBe(0);
    });

    it('refuses a body that is not UTF-8 (400) and a JSON charset other than UTF-8 (415)', async () => {
      const send = async (body: Buffer, contentType = 'application/json') =>
        fetched(await fetch(`${sandbox.broker.url}/credentials/mint`, { method: 'POST', headers: { authorization: `Bearer ${await token()}`, 'content-type': contentType }, body }));
      const utf8 = (inner: number[]) => Buffer.concat([Buffer.from('{"keys":["'), Buffer.from(inner), Buffer.from('"]}')]);
      // Positive control: a valid two-byte sequence (é) parses; the key simply is not granted.
      const valid = expectStandardAnswer(await send(utf8([0xc3, 0xa9])), 403, 'key_not_permitted');
      expect(valid.message).toBe("this token may not mint 'é'");
      expect(expectStandardAnswer(await send(utf8([0xc3, 0x28])), 400, 'request_invalid').message).toBe('the request body is not valid UTF-8');
      expect(expectStandardAnswer(await send(utf8([0xed, 0xa0, 0x80])), 400, 'request_invalid').message).toBe('the request body is not valid UTF-8'); // a UTF-16 surrogate
      expect(expectStandardAnswer(await send(Buffer.from('{"keys":["AWS_DEPLOY"]}'), 'application/json; charset=utf-8'), 200).AWS_DEPLOY).toBeDefined();
      expect(expectStandardAnswer(await send(Buffer.from('{"keys":["AWS_DEPLOY"]}'), 'application/json; charset=iso-8859-1'), 415, 'unsupported_media_type').message).toBe(
        'send the request body as application/json in UTF-8',
      );
    });

    it('refuses a request body nested thousands of levels deep (400), where a flat one mints', async () => {
      const send = async (body: string) =>
        fetched(await fetch(`${sandbox.broker.url}/credentials/mint`, { method: 'POST', headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json' }, body }));
      expect(expectStandardAnswer(await send('{"keys":["AWS_DEPLOY"]}'), 200).AWS_DEPLOY).toBeDefined();
      const deep = await send(`{"keys":["AWS_DEPLOY"],"x":${nested(5_000)}}`);
      expect(expectStandardAnswer(deep, 400, 'request_invalid').message).toBe('the request body nests deeper than 32 levels');
    });
  });

  describe('tokens in the URL', () => {
    const routes: Array<[string, string]> = [
      ['POST', '/credentials/mint'],
      ['GET', '/credentials/keys'],
      ['GET', '/credentials/idp-providers'],
      ['GET', '/health'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/no-such-route'],
    ];
    const parameters = (jwt: string) => [`Access_Token=${jwt}`, `ACCESS_TOKEN=${jwt}`, `access_token=${jwt}`, `id-token=${jwt}`, `oidcToken=${jwt}`, `Token=x`, `subject_token=${jwt}`, `x=${jwt}`, `k=1&k=${jwt}`];

    it.each(routes)('%s %s: refused in any spelling (400), while the same request without it is answered', async (method, path) => {
      const jwt = await token();
      const send = async (query: string) =>
        fetched(
          await fetch(`${sandbox.broker.url}${path}${query}`, {
            method,
            headers: { authorization: `Bearer ${jwt}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
            ...(method === 'POST' ? { body: '{"keys":["AWS_DEPLOY"]}' } : {}),
          }),
        );
      const control = await send('?idpName=github-actions');
      expect(control.status).toBe(path === '/no-such-route' ? 404 : 200);
      for (const query of parameters(jwt)) {
        const refused = await send(`?${query}`);
        expect({ query, message: expectStandardAnswer(refused, 400, 'request_invalid').message }).toEqual({
          query,
          message: 'a token in the query string is refused (URLs get logged); use the Authorization header',
        });
      }
    });
  });

  it('puts the standard headers on every answer: 200, 404, 405, 413, 415, 401, 403, and /metrics', async () => {
    const url = sandbox.broker.url;
    const good = await token();
    const answers: Array<[string, number, Promise<Response>]> = [
      ['health', 200, fetch(`${url}/health`)],
      ['mint', 200, fetch(`${url}/credentials/mint`, { method: 'POST', headers: { authorization: `Bearer ${good}`, 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' })],
      ['unknown route', 404, fetch(`${url}/nope`)],
      ['wrong method', 405, fetch(`${url}/credentials/mint`)],
      ['oversized body', 413, fetch(`${url}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"keys":["${'x'.repeat(70_000)}"]}` })],
      ['text body', 415, fetch(`${url}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })],
      ['no token', 401, fetch(`${url}/credentials/keys`)],
      ['key not granted', 403, fetch(`${url}/credentials/mint`, { method: 'POST', headers: { authorization: `Bearer ${good}`, 'content-type': 'application/json' }, body: '{"keys":["PROD_ADMIN"]}' })],
    ];
    for (const [name, status, pending] of answers) {
      const response = await fetched(await pending);
      expect({ name, status: response.status }).toEqual({ name, status });
      expectStandardAnswer(response, status);
    }
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(Object.fromEntries(metrics.headers)).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache', 'x-content-type-options': 'nosniff', 'x-request-id': expect.any(String) });
  });

  describe('slow and idle clients (short deadlines from server:)', () => {
    let slow: BrokerProcess;
    beforeAll(async () => {
      const config = withServerSection('  headersTimeoutMs: 300\n  requestTimeoutMs: 600\n  keepAliveTimeoutMs: 300\n  maxRequestsPerSocket: 3\n')(sandbox.config);
      slow = await startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } });
    });
    afterAll(async () => {
      await slow?.stop();
    });

    const healthOnce = request(['GET /health HTTP/1.1', 'Host: broker', 'User-Agent: slowloris-test', 'Accept: application/json', 'X-Request-Id: slow-client-0001', 'Connection: close']);

    it('closes a connection whose headers trickle in (slowloris) with 408, long before they are all sent', async () => {
      // Positive control: the same bytes at once are answered.
      expectStandardAnswer(await rawRequest(slow.port, healthOnce), 200);
      const connection = await rawConnect(slow.port);
      const sent = await connection.trickle(Buffer.concat([healthOnce.subarray(0, -4), Buffer.from(`\r\nX-Slow: ${'a'.repeat(2_000)}\r\n\r\n`)]), 20);
      await connection.closed;
      // A 300 ms deadline, one byte every 20 ms: closed after a few dozen of 2,100 bytes.
      expect(sent).toBeLessThan(1_000);
      const answer = await connection.response();
      expect(expectStandardAnswer(answer, 408, 'request_timeout').message).toBe('the request did not arrive in time');
    });

    it('closes a connection that never sends a byte', async () => {
      expectStandardAnswer(await rawRequest(slow.port, healthOnce), 200); // positive control
      const connection = await rawConnect(slow.port);
      await connection.closed;
      expectStandardAnswer(await connection.response(), 408, 'request_timeout');
    });

    it('closes a connection whose body trickles in with 408 under the request id it sent', async () => {
      const body = `{"keys":["AWS_DEPLOY"]}${' '.repeat(1_000)}`;
      const head = ['POST /credentials/mint HTTP/1.1', 'Host: broker', `Authorization: Bearer ${await token()}`, 'Content-Type: application/json', `Content-Length: ${body.length}`, 'X-Request-Id: trickling-body-0001', 'Connection: close'];
      // Positive control: the same request with its body at once mints.
      expect(expectStandardAnswer(await rawRequest(slow.port, request(head, body)), 200).AWS_DEPLOY).toBeDefined();
      sandbox.aws.reset();
      const connection = await rawConnect(slow.port);
      connection.write(request(head));
      const sent = await connection.trickle(body, 20);
      await connection.closed;
      expect(sent).toBeLessThan(body.length / 2);
      const answer = await connection.response();
      expect(expectStandardAnswer(answer, 408, 'request_timeout').requestId).toBe('trickling-body-0001');
      expect(sandbox.aws.calls).toBe(0);
    });

    it('serves several requests on a keep-alive connection, then closes it once idle', async () => {
      const connection = await rawConnect(slow.port);
      const keepAlive = request(['GET /health HTTP/1.1', 'Host: broker']);
      for (let i = 0; i < 2; i++) {
        connection.write(keepAlive);
        const answer = await connection.response();
        expectStandardAnswer(answer, 200);
        expect(answer.headers.connection).toBe('keep-alive');
      }
      // Nothing more is sent: the server, not the client, ends the connection.
      await connection.closed;
      expect(connection.socket.destroyed).toBe(true);
    });

    it('closes a connection after maxRequestsPerSocket answers, the last one saying so', async () => {
      const connection = await rawConnect(slow.port);
      const keepAlive = request(['GET /healthz HTTP/1.1', 'Host: broker']);
      const connectionHeaders: string[] = [];
      for (let i = 0; i < 3; i++) {
        connection.write(keepAlive);
        const answer = await connection.response();
        expectStandardAnswer(answer, 200);
        connectionHeaders.push(answer.headers.connection!);
      }
      expect(connectionHeaders).toEqual(['keep-alive', 'keep-alive', 'close']);
      await connection.closed;
    });
  });

  describe('rate limits', () => {
    let limited: BrokerProcess;
    beforeAll(async () => {
      // Three requests, then none for a minute: no refill happens while the test runs.
      const config = withServerSection('  rateLimit:\n    requestsPerMinute: 1\n    burst: 3\n')(sandbox.config);
      limited = await startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } });
    });
    afterAll(async () => {
      await limited?.stop();
    });

    it('apply to every route, /readyz included, and before the body is read', async () => {
      const url = limited.url;
      const invalidBody = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"keys":' };
      // Within the burst: the invalid body is parsed and refused as such, /readyz and /health answer.
      expectStandardAnswer(await fetched(await fetch(`${url}/credentials/mint`, invalidBody)), 400, 'request_invalid');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      // Spent: every route answers 429, and a body is never parsed (an invalid one is not a 400).
      const refused: Array<[string, Promise<Response>]> = [
        ['/readyz', fetch(`${url}/readyz`)],
        ['invalid body', fetch(`${url}/credentials/mint`, invalidBody)],
        ['60 KB invalid body', fetch(`${url}/credentials/mint`, { ...invalidBody, body: `{"keys":${nested(30_000)}` })],
        ['/health', fetch(`${url}/health`)],
        ['/metrics', fetch(`${url}/metrics`)],
        ['unknown route', fetch(`${url}/nope`)],
      ];
      for (const [name, pending] of refused) {
        const response = await fetched(await pending);
        expect({ name, status: response.status, retryAfter: Number(response.headers['retry-after']) > 0 }).toEqual({ name, status: 429, retryAfter: true });
        expectStandardAnswer(response, 429, 'rate_limited');
      }
    });
  });
});
