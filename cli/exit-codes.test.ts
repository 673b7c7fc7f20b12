import { REASONS } from '../broker-core/errors';
import { EXIT_CODE_BY_BROKER_CODE, ExitCode, exitCodeForBrokerError, exitCodeForStatus } from './exit-codes';
import { closedPort, startFakeServer, type FakeAnswer, type FakeServer } from './test-support/fake-broker';
import { runInProcess } from './test-support/run-in-process';

describe('exit code maps', () => {
  it('gives every broker error code an exit code, and only those', () => {
    expect(Object.keys(EXIT_CODE_BY_BROKER_CODE).sort()).toEqual(Object.keys(REASONS).sort());
  });

  it.each([
    [400, ExitCode.Usage],
    [401, ExitCode.Token],
    [403, ExitCode.Denied],
    [404, ExitCode.Usage],
    [413, ExitCode.Usage],
    [415, ExitCode.Usage],
    [429, ExitCode.Unavailable],
    [500, ExitCode.Internal],
    [502, ExitCode.Provider],
    [503, ExitCode.Unavailable],
    [504, ExitCode.Provider],
  ])('maps HTTP %i without a known code to %i', (status, code) => {
    expect(exitCodeForStatus(status)).toBe(code);
    expect(exitCodeForBrokerError('ERR_FROM_THE_FUTURE', status)).toBe(code);
  });

  it('lets a known code win over the status', () => {
    expect(exitCodeForBrokerError('ERR_TOKEN_MALFORMED', 400)).toBe(ExitCode.Token);
    expect(exitCodeForBrokerError('toString', 403)).toBe(ExitCode.Denied);
  });

  it.each([
    [502, ExitCode.Provider],
    [504, ExitCode.Provider],
    [503, ExitCode.Unavailable],
    [403, ExitCode.Provider],
  ])('maps mint_failed with the status of its first failure (%i) to %i', (status, code) => {
    expect(exitCodeForBrokerError('ERR_MINT_FAILED', status)).toBe(code);
  });
});

describe('the CLI exits with the class of the failure', () => {
  const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA';
  let broker: FakeServer;
  let answers: FakeAnswer[];
  beforeAll(async () => {
    broker = await startFakeServer(() => answers.shift() ?? { status: 500, body: {} });
  });
  afterAll(() => broker.close());

  const refusal = (status: number, error: string, code: string, extra: object = {}): FakeAnswer => ({
    status,
    body: { error, code, message: `the ${error} message`, requestId: 'rid-1', ...extra },
  });

  it.each<[string, FakeAnswer[], number, string]>([
    ['request_invalid (400)', [refusal(400, 'request_invalid', 'ERR_REQUEST_INVALID')], ExitCode.Usage, 'voidkey: usage (request_invalid): the request_invalid message [request id: rid-1]'],
    ['duration_invalid (400)', [refusal(400, 'duration_invalid', 'ERR_DURATION_INVALID')], ExitCode.Usage, 'voidkey: usage (duration_invalid)'],
    ['token_expired (401)', [refusal(401, 'token_expired', 'ERR_TOKEN_EXPIRED')], ExitCode.Token, 'voidkey: token (token_expired): the token_expired message [request id: rid-1]'],
    ['audience_mismatch (401)', [refusal(401, 'audience_mismatch', 'ERR_TOKEN_AUDIENCE_MISMATCH')], ExitCode.Token, 'voidkey: token (audience_mismatch)'],
    ['key_not_permitted (403)', [refusal(403, 'key_not_permitted', 'ERR_KEY_NOT_PERMITTED')], ExitCode.Denied, 'voidkey: denied (key_not_permitted): the key_not_permitted message [request id: rid-1]'],
    ['no_identity_matched (403)', [refusal(403, 'no_identity_matched', 'ERR_IDENTITY_NOT_MATCHED')], ExitCode.Denied, 'voidkey: denied (no_identity_matched)'],
    ['provider_rejected (502)', [refusal(502, 'provider_rejected', 'ERR_PROVIDER_REJECTED')], ExitCode.Provider, 'voidkey: provider failed (provider_rejected)'],
    ['provider_timeout (504)', [refusal(504, 'provider_timeout', 'ERR_PROVIDER_TIMEOUT')], ExitCode.Provider, 'voidkey: provider failed (provider_timeout)'],
    [
      'mint_failed with per-key reasons',
      [refusal(502, 'mint_failed', 'ERR_MINT_FAILED', { keys: { A: { error: 'provider_rejected', message: 'AWS said no' }, B: { error: 'not_attempted', message: 'not minted' } } })],
      ExitCode.Provider,
      'voidkey: provider failed (mint_failed): the mint_failed message [request id: rid-1]\n  A: provider_rejected: AWS said no\n  B: not_attempted: not minted',
    ],
    ['idp_unavailable (503 ×3)', Array(3).fill({ ...refusal(503, 'idp_unavailable', 'ERR_IDP_UNAVAILABLE'), headers: { 'retry-after': '0' } }), ExitCode.Unavailable, 'voidkey: unavailable (idp_unavailable)'],
    ['throttled (429 ×3)', Array(3).fill({ status: 429, body: { error: 'rate_limited', message: 'slow down' }, headers: { 'retry-after': '0' } }), ExitCode.Unavailable, 'voidkey: unavailable (rate_limited): slow down [request id: req-'],
    ['rate_limited asking for a long pause', [{ ...refusal(429, 'rate_limited', 'ERR_RATE_LIMITED'), headers: { 'retry-after': '60' } }], ExitCode.Unavailable, 'voidkey: unavailable (rate_limited): the rate_limited message [request id: rid-1] (retry after 60 s)\n'],
    ['internal_error (500)', [refusal(500, 'internal_error', 'ERR_INTERNAL')], ExitCode.Internal, 'voidkey: internal error (internal_error)'],
    ['a proxy\'s HTML 502', [{ status: 502, rawBody: '<html>Bad gateway</html>', headers: { 'content-type': 'text/html' } }], ExitCode.Provider, 'voidkey: provider failed (http_502): the broker answered HTTP 502 [request id: req-'],
    ['a 200 that is not JSON', [{ status: 200, rawBody: 'hello' }], ExitCode.Internal, 'voidkey: internal error: the broker answered POST /credentials/mint with a body that is not JSON'],
    ['a 200 of the wrong shape', [{ status: 200, body: { A: { credentials: { X: 1 } } } }], ExitCode.Internal, "the broker's mint response is not what this CLI expects: A.credentials is not a map of strings"],
    ['a redirect', [{ status: 307, headers: { location: 'https://elsewhere/' } }], ExitCode.Usage, 'voidkey: usage: the broker URL redirects (HTTP 307 to https://elsewhere/)'],
  ])('%s', async (_name, script, exitCode, message) => {
    answers = [...script];
    const run = await runInProcess(['mint', '--keys', 'A,B', '--broker-url', broker.url], { VOIDKEY_OIDC_TOKEN: TOKEN });
    expect(run.code).toBe(exitCode);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toContain(TOKEN);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it.each<[string, string[], Record<string, string>, number, string]>([
    ['no broker URL', ['mint', '--keys', 'A'], { VOIDKEY_OIDC_TOKEN: TOKEN }, ExitCode.Usage, 'voidkey: usage: no broker URL'],
    ['neither --keys nor --all', ['mint', '--broker-url', 'http://127.0.0.1:9'], {}, ExitCode.Usage, 'voidkey: usage: name the keys to mint'],
    ['--keys and --all', ['mint', '--keys', 'A', '--all'], {}, ExitCode.Usage, 'mutually exclusive'],
    ['an unknown option', ['mint', '--kes', 'A'], {}, ExitCode.Usage, "voidkey: usage: unknown option '--kes'"],
    ['an unknown format', ['mint', '--keys', 'A', '--format', 'xml'], {}, ExitCode.Usage, "voidkey: usage: option '--format <format>' argument 'xml' is invalid"],
    ['a bad --duration', ['mint', '--keys', 'A', '--duration', '10m'], {}, ExitCode.Usage, 'expected a positive whole number'],
    ['an unknown command', ['mnt'], {}, ExitCode.Usage, "voidkey: usage: unknown command 'mnt'"],
    ['credential-process with two keys', ['mint', '--keys', 'A,B', '--format', 'credential-process'], {}, ExitCode.Usage, 'needs exactly one key, got 2'],
    ['github without GITHUB_ENV', ['mint', '--keys', 'A', '--format', 'github'], {}, ExitCode.Usage, 'needs $GITHUB_ENV'],
    ['plain http to a remote host', ['list-idps', '--broker-url', 'http://broker.example.com'], {}, ExitCode.Usage, 'refusing to send a token over plain http'],
    ['no token', ['mint', '--keys', 'A', '--broker-url', 'http://127.0.0.1:9'], { VOIDKEY_K8S_TOKEN_FILE: '' }, ExitCode.Token, 'voidkey: token: no OIDC token found'],
  ])('%s', async (_name, args, env, exitCode, message) => {
    const before = broker.requests.length;
    const run = await runInProcess(args, env);
    expect(run.code).toBe(exitCode);
    expect(run.stderr).toContain(message);
    expect(broker.requests.length).toBe(before);
  });

  it('reports an unreachable broker as unavailable', async () => {
    const run = await runInProcess(['list-idps', '--broker-url', `http://127.0.0.1:${await closedPort()}`]);
    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toMatch(/^voidkey: unavailable: cannot reach the broker at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  });

  it('adds detail with --debug, still without the token', async () => {
    answers = [refusal(403, 'key_not_permitted', 'ERR_KEY_NOT_PERMITTED')];
    const run = await runInProcess(['mint', '--keys', 'A', '--broker-url', broker.url, '--debug'], { VOIDKEY_OIDC_TOKEN: TOKEN });
    expect(run.code).toBe(ExitCode.Denied);
    expect(run.stderr).toContain('voidkey: debug: token from VOIDKEY_OIDC_TOKEN');
    expect(run.stderr).toContain('voidkey: debug: HTTP 403, code ERR_KEY_NOT_PERMITTED');
    expect(run.stderr).toMatch(/voidkey: debug: POST http:\/\/127\.0\.0\.1:\d+\/credentials\/mint → 403 in \d+ ms \[request id: req-\d+\]/);
    expect(run.stderr).not.toContain(TOKEN);
  });
});
