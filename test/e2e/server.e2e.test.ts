import { generateKeyPairSync, verify as verifySignature, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyChain } from '../../broker-core';
import { startBrokerProcess } from '../../sandbox/broker-process';
import { mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'voidkey-server-'));
const auditFile = join(dir, 'audit.jsonl');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyFile = join(dir, 'audit-key.pem');
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));

const withServerSection = (extra: string) => (config: string) => config.replace('clientIdps:', `server:\n${extra}clientIdps:`);

describe('the production server', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({
      transformConfig: withServerSection(
        `  audit:\n    file: ${auditFile}\n    signingKeyFile: ${keyFile}\n  rateLimit:\n    requestsPerMinute: 6000\n    burst: 1000\n  cors:\n    origins: [https://portal.example.com]\n`,
      ),
    });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const handled: string[] = [];
  const token = async () => {
    const value = await sandbox.github.githubToken({ repository_id: '123456789' });
    handled.push(value);
    return value;
  };
  const request = (path: string, init: RequestInit = {}) => fetch(`${sandbox.broker.url}${path}`, init);
  const mint = async (body: unknown, headers: Record<string, string> = {}) =>
    request('/credentials/mint', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}`, ...headers },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });

  describe('strict requests', () => {
    it('mints with a well-formed request (positive control)', async () => {
      const response = await mint({ keys: ['AWS_DEPLOY'] });
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      // How long the answer waited on STS: the caller can tell the broker's time from the cloud's.
      expect(response.headers.get('server-timing')).toMatch(/^upstream;dur=\d+\.\d{2}$/);
      expect(Number(/dur=(.*)/.exec(response.headers.get('server-timing')!)![1])).toBeGreaterThan(0);
    });

    it.each([
      ['duplicate keys in the JSON body', '{"keys":["AWS_DEPLOY"],"keys":["ARTIFACTS"]}', 400, 'request_invalid'],
      ['an unknown field', '{"keys":["AWS_DEPLOY"],"role":"admin"}', 400, 'request_invalid'],
      ['a wrong type', '{"keys":"AWS_DEPLOY"}', 400, 'request_invalid'],
      ['a fractional duration', '{"keys":["AWS_DEPLOY"],"duration":900.5}', 400, 'request_invalid'],
      ['keys and all together', '{"keys":["AWS_DEPLOY"],"all":true}', 400, 'request_invalid'],
      ['an empty keys list', '{"keys":[]}', 400, 'request_invalid'],
      ['more than 100 keys', JSON.stringify({ keys: Array.from({ length: 101 }, (_, i) => `K${i}`) }), 400, 'request_invalid'],
      ['neither keys nor all', '{}', 400, 'request_invalid'],
      ['all: false alone', '{"all":false}', 400, 'request_invalid'],
      ['more distinct keys than the config defines', '{"keys":["AWS_DEPLOY","ARTIFACTS","AWS_READONLY","PROD_ADMIN"]}', 400, 'request_invalid'],
      ['invalid JSON', '{"keys":', 400, 'request_invalid'],
    ])('refuses %s', async (_name, body, status, error) => {
      const response = await mint(body);
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ error });
      // Refusals are timed like answers: no provider was waited on.
      expect(response.headers.get('server-timing')).toBe('upstream;dur=0.00');
    });

    it('pins status, error code and message for each bad input (the error matrix)', async () => {
      const expired = await sandbox.github.githubToken({ repository_id: '123456789' }, { iat: Math.floor(Date.now() / 1000) - 900, expiresIn: 300 });
      const stranger = await sandbox.github.githubToken({ sub: 'repo:evil/app:ref:refs/heads/main' });
      const good = await token();
      const branch = 'repo:acme/app:ref:refs/heads/feature';
      const accessToken = await sandbox.github.githubToken({ repository_id: '123456789' }, { header: { typ: 'at+jwt' } });
      const newlineSubject = await sandbox.github.githubToken({ sub: `${branch}\n` });
      const newlineClaim = await sandbox.github.githubToken({ repository_id: '123456789\n' });
      // Positive controls for the rows below: the same tokens without the flaw mint.
      expect((await mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${await sandbox.github.githubToken({ repository_id: '123456789' }, { header: { typ: 'JWT' } })}` })).status).toBe(200);
      expect((await mint({ keys: ['AWS_READONLY'] }, { authorization: `Bearer ${await sandbox.github.githubToken({ sub: branch })}` })).status).toBe(200);
      expect((await request('/credentials/keys', { headers: { authorization: `Bearer ${good}` } })).status).toBe(200);
      const rows: Array<[string, () => Promise<Response>, number, string, string]> = [
        ['no token', () => request('/credentials/mint', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"keys":["AWS_DEPLOY"]}' }), 401, 'token_missing', 'no OIDC token was presented'],
        ['not a JWT', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: 'Bearer abc' }), 401, 'token_malformed', 'the token is not a compact JWS (three base64url parts)'],
        ['bad Authorization scheme', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Basic ${good}` }), 400, 'request_invalid', "the Authorization header must be 'Bearer <token>'"],
        ['expired', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${expired}` }), 401, 'token_expired', 'the token has expired'],
        ['unknown subject', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${stranger}` }), 403, 'no_identity_matched', 'no configured identity matches this token'],
        ['unknown key', () => mint({ keys: ['PROD_ADMIN'] }), 403, 'key_not_permitted', "this token may not mint 'PROD_ADMIN'"],
        ['keys for a token no identity matches', () => request('/credentials/keys', { headers: { authorization: `Bearer ${stranger}` } }), 403, 'no_identity_matched', 'no configured identity matches this token'],
        ['an access token (typ at+jwt)', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${accessToken}` }), 401, 'token_type_invalid', 'the token is not an identity token (its typ header names another kind of JWT)'],
        ['a subject ending in a newline', () => mint({ keys: ['AWS_READONLY'] }, { authorization: `Bearer ${newlineSubject}` }), 401, 'token_claim_invalid', "the token's subject holds control characters"],
        ['a matched claim ending in a newline', () => mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${newlineClaim}` }), 401, 'token_claim_invalid', 'a claim this broker matches on holds control characters'],
        ['neither keys nor all', () => mint({}), 400, 'request_invalid', "name the keys to mint in 'keys', or set 'all': true; nothing is minted implicitly"],
        ['all: false', () => mint({ all: false }), 400, 'request_invalid', "name the keys to mint in 'keys', or set 'all': true; nothing is minted implicitly"],
        ['more distinct keys than the config defines', () => mint({ keys: ['AWS_DEPLOY', 'ARTIFACTS', 'AWS_READONLY', 'PROD_ADMIN'] }), 400, 'request_invalid', 'more distinct keys are requested than this broker defines'],
        ['as many keys as the config defines, one not granted', () => mint({ keys: ['AWS_DEPLOY', 'ARTIFACTS', 'PROD_ADMIN', 'AWS_DEPLOY'] }), 403, 'key_not_permitted', "this token may not mint 'PROD_ADMIN'"],
        ['duration above the key maximum', () => mint({ keys: ['AWS_DEPLOY'], duration: 7200 }), 400, 'duration_invalid', "key 'AWS_DEPLOY' accepts a duration between 900 and 3600 seconds"],
        ['token twice', () => mint({ keys: ['AWS_DEPLOY'], oidcToken: good }), 400, 'request_invalid', 'send the token in the body or in the Authorization header, not both'],
        ['unknown field', () => mint({ keys: ['AWS_DEPLOY'], role: 'admin' }), 400, 'request_invalid', "unknown field 'role' in the request body"],
        ['duplicate members', () => mint('{"keys":["AWS_DEPLOY"],"keys":["ARTIFACTS"]}'), 400, 'request_invalid', 'the request body has duplicate member names'],
        ['token in the URL', () => request(`/credentials/keys?token=${good}`), 400, 'request_invalid', 'a token in the query string is refused (URLs get logged); use the Authorization header'],
        ['token in the URL, any case', () => request(`/credentials/keys?Access_Token=${good}`, { headers: { authorization: `Bearer ${good}` } }), 400, 'request_invalid', 'a token in the query string is refused (URLs get logged); use the Authorization header'],
        ['body not UTF-8', () => mint(Buffer.from([...Buffer.from('{"keys":["'), 0xc3, 0x28, ...Buffer.from('"]}')])), 400, 'request_invalid', 'the request body is not valid UTF-8'],
        ['body nested too deeply', () => mint(`{"keys":["AWS_DEPLOY"],"x":${'['.repeat(100)}${']'.repeat(100)}}`), 400, 'request_invalid', 'the request body nests deeper than 32 levels'],
        ['JSON not in UTF-8', () => mint({ keys: ['AWS_DEPLOY'] }, { 'content-type': 'application/json; charset=utf-16' }), 415, 'unsupported_media_type', 'send the request body as application/json in UTF-8'],
        ['malformed path encoding', () => request('/credentials/%zz'), 400, 'request_invalid', 'the request path is not valid URL encoding'],
        ['idpName disagreeing', () => mint({ keys: ['AWS_DEPLOY'], idpName: 'gitlab' }), 400, 'idp_mismatch', "the token was issued by IdP 'github-actions', not 'gitlab'"],
        ['text body', () => request('/credentials/mint', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }), 415, 'unsupported_media_type', 'send the request body as application/json'],
        ['oversized body', () => mint({ keys: ['x'.repeat(70_000)] }), 413, 'payload_too_large', 'the request body is larger than 64 KiB'],
        ['wrong method', () => request('/credentials/mint', { method: 'PUT' }), 405, 'method_not_allowed', 'this route does not answer that method'],
        ['unknown route', () => request('/credentials/admin'), 404, 'not_found', 'no such route'],
      ];
      // Positive control on the same broker and token.
      expect((await mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${good}` })).status).toBe(200);
      for (const [name, send, status, error, message] of rows) {
        const response = await send();
        const body = (await response.json()) as Record<string, unknown>;
        expect({ name, status: response.status, error: body.error, message: body.message, requestId: body.requestId }).toEqual({
          name,
          status,
          error,
          message,
          requestId: response.headers.get('x-request-id'),
        });
      }
    });

    it('mints every granted key with all: true, only the named keys with all: false, and deduplicates keys', async () => {
      const all = (await (await mint({ all: true })).json()) as Record<string, unknown>;
      expect(Object.keys(all).sort()).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AWS_READONLY']);
      const named = (await (await mint({ keys: ['AWS_DEPLOY'], all: false })).json()) as Record<string, unknown>;
      expect(Object.keys(named)).toEqual(['AWS_DEPLOY']);
      sandbox.aws.reset();
      const dedup = (await (await mint({ keys: ['AWS_DEPLOY', 'AWS_DEPLOY'] })).json()) as Record<string, unknown>;
      expect(Object.keys(dedup)).toEqual(['AWS_DEPLOY']);
      expect(sandbox.aws.calls).toBe(1);
    });

    it('mints with a token that expired a few seconds ago, within the clock skew', async () => {
      const now = Math.floor(Date.now() / 1000);
      // exp 5 s ago: accepted (skew 30 s), and its mint gets a whole upstream attempt.
      const recent = await sandbox.github.githubToken({ repository_id: '123456789' }, { iat: now - 305, expiresIn: 300 });
      const answer = await mint({ keys: ['AWS_DEPLOY', 'ARTIFACTS'] }, { authorization: `Bearer ${recent}` });
      expect({ status: answer.status, keys: Object.keys((await answer.json()) as object).sort() }).toEqual({ status: 200, keys: ['ARTIFACTS', 'AWS_DEPLOY'] });
      // Past the skew it is refused, as before.
      const old = await sandbox.github.githubToken({ repository_id: '123456789' }, { iat: now - 340, expiresIn: 300 });
      expect(await (await mint({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${old}` })).json()).toMatchObject({ error: 'token_expired' });
    });

    it('answers 413 over 64 KiB, 415 for non-JSON, 405 for a wrong method', async () => {
      expect((await mint({ keys: ['x'.repeat(70_000)] })).status).toBe(413);
      const text = await request('/credentials/mint', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
      expect(text.status).toBe(415);
      const get = await request('/credentials/mint');
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      expect(await get.json()).toMatchObject({ error: 'method_not_allowed' });
    });

    it('refuses a token in the query string', async () => {
      const response = await request(`/credentials/keys?token=${await token()}`);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'request_invalid' });
    });

    it('honours a sane X-Request-Id and replaces an unsafe one', async () => {
      const sane = await mint({ keys: ['AWS_DEPLOY'] }, { 'x-request-id': 'ci-run-42.job-7' });
      expect(sane.headers.get('x-request-id')).toBe('ci-run-42.job-7');
      const unsafe = await request('/credentials/mint', { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'a\u00e9<script>' }, body: '{}' });
      expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(((await unsafe.json()) as { requestId: string }).requestId).toBe(unsafe.headers.get('x-request-id'));
    });

    it('answers CORS preflights for configured origins only', async () => {
      const allowed = await request('/credentials/mint', { method: 'OPTIONS', headers: { origin: 'https://portal.example.com', 'access-control-request-method': 'POST' } });
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://portal.example.com');
      const other = await request('/health', { headers: { origin: 'https://evil.example.com' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('audit trail', () => {
    it('writes one hash-chained, signed record per request that verifies, and names the identity and credential id', async () => {
      await mint({ keys: ['AWS_DEPLOY'] }, { 'x-request-id': 'audit-check-0001' });
      const lines = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
      const pub = createPublicKey(publicKey.export({ type: 'spki', format: 'pem' }));
      const verdict = verifyChain(lines, (hash, sig) => verifySignature(null, Buffer.from(hash), pub, Buffer.from(sig, 'base64')));
      expect(verdict).toMatchObject({ ok: true, records: lines.length, signed: lines.length });
      const record = JSON.parse(lines.find((line) => line.includes('audit-check-0001'))!) as { event: Record<string, unknown> };
      expect(record.event).toMatchObject({
        requestId: 'audit-check-0001',
        outcome: 'allowed',
        idp: 'github-actions',
        subject: 'repo:acme/app:ref:refs/heads/main',
        keysGranted: ['AWS_DEPLOY'],
        issued: [{ key: 'AWS_DEPLOY', identity: 'app-main', provider: 'aws-sandbox', credentialId: expect.stringMatching(/^ASIA/) }],
        tokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        client: { address: '127.0.0.1' },
      });
    });

    it('audits a key listing for a token no identity matches as denied', async () => {
      const mine = await request('/credentials/keys', { headers: { authorization: `Bearer ${await token()}`, 'x-request-id': 'audit-keys-allowed-1' } });
      expect(mine.status).toBe(200); // positive control
      const stranger = await sandbox.github.githubToken({ sub: 'repo:evil/app:ref:refs/heads/main' });
      const refused = await request('/credentials/keys', { headers: { authorization: `Bearer ${stranger}`, 'x-request-id': 'audit-keys-denied-1' } });
      expect(refused.status).toBe(403);
      const events = readFileSync(auditFile, 'utf8').trimEnd().split('\n').map((line) => (JSON.parse(line) as { event: Record<string, unknown> }).event);
      expect(events.find((event) => event.requestId === 'audit-keys-allowed-1')).toMatchObject({ action: 'list-keys', outcome: 'allowed' });
      expect(events.find((event) => event.requestId === 'audit-keys-denied-1')).toMatchObject({
        action: 'list-keys',
        outcome: 'denied',
        reason: 'no_identity_matched',
        subject: 'repo:evil/app:ref:refs/heads/main',
        keysGranted: [],
      });
    });

    it('detects a changed, a removed and a reordered record', () => {
      const lines = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
      expect(lines.length).toBeGreaterThan(3);
      expect(verifyChain(lines).ok).toBe(true);
      const changed = [...lines];
      changed[1] = changed[1]!.replace('"address":"127.0.0.1"', '"address":"10.0.0.1"');
      expect(changed[1]).not.toBe(lines[1]);
      expect(verifyChain(changed)).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/changed/) });
      const removed = lines.filter((_, i) => i !== 1);
      expect(verifyChain(removed)).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/missing|removed/) });
      const reordered = [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)];
      expect(verifyChain(reordered)).toMatchObject({ ok: false, line: 2 });
    });
  });

  describe('observability', () => {
    it('exposes bounded Prometheus metrics with no subject, token or address in any label', async () => {
      await mint({ keys: ['AWS_DEPLOY'] });
      const text = await (await request('/metrics')).text();
      expect(text).toMatch(/voidkey_requests_total\{action="mint",outcome="allowed",reason="ok"\} \d+/);
      expect(text).toMatch(/voidkey_provider_call_duration_seconds_count\{provider="aws-sandbox",type="aws-sts",outcome="ok"\} \d+/);
      // The broker's own share: every answered mint is one sample, refusals apart.
      const brokerCount = Number(/voidkey_request_broker_seconds_count\{route="\/credentials\/mint",status="2xx"\} (\d+)/.exec(text)?.[1]);
      const mintCount = Number(/voidkey_http_requests_total\{route="\/credentials\/mint",status="2xx",reason="ok"\} (\d+)/.exec(text)?.[1]);
      expect(mintCount).toBeGreaterThan(0);
      expect(brokerCount).toBe(mintCount);
      const refusedCount = Number(/voidkey_request_broker_seconds_count\{route="\/credentials\/mint",status="4xx"\} (\d+)/.exec(text)?.[1]);
      expect(refusedCount).toBeGreaterThan(0); // the strict-request tests' 400s and 415s
      expect(text).toMatch(/voidkey_request_broker_seconds_bucket\{le="1",route="\/credentials\/mint",status="2xx"\} \d+/);
      expect(text).toMatch(/voidkey_jwks_fetches_total\{idp="github-actions",outcome="ok"\} 1/);
      expect(text).toMatch(/voidkey_jwks_cache_hits_total\{idp="github-actions"\} \d+/);
      expect(text).toMatch(/voidkey_http_requests_total\{route="\/credentials\/mint",status="4xx",reason="request_invalid"\} \d+/);
      expect(text).not.toMatch(/repo:acme|127\.0\.0\.1|eyJ/);
      // Server-Timing is for the credential routes only.
      expect((await request('/health')).headers.get('server-timing')).toBeNull();
    });

    it('leaks no token, credential or secret into the output, the audit file or /metrics', async () => {
      await mint({ keys: ['AWS_DEPLOY', 'ARTIFACTS'] });
      const metrics = await (await request('/metrics')).text();
      const audit = readFileSync(auditFile, 'utf8');
      const printed = sandbox.broker.output();
      const secrets = [
        ...handled,
        sandbox.clientSecret,
        ...[...sandbox.aws.issued, ...sandbox.minio.issued].flatMap((issued) => [issued.secretAccessKey, issued.sessionToken]),
      ];
      expect(handled.length).toBeGreaterThan(10);
      for (const [name, text] of [['output', printed], ['audit file', audit], ['metrics', metrics]] as const) {
        const leaked = secrets.filter((secret) => text.includes(secret));
        expect({ name, leaked }).toEqual({ name, leaked: [] });
      }
      // The positive control: the audit file does name what was issued, by id.
      expect(audit).toContain(sandbox.aws.issued.at(-1)!.accessKeyId);
    });

    it('reports ready when every IdP key set is fetchable', async () => {
      const response = await request('/readyz');
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ready', idps: { 'github-actions': 'ok' }, audit: 'ok' });
      expect((await request('/healthz')).status).toBe(200);
    });
  });
});

// More in test/e2e/transport.e2e.test.ts: every route, /readyz included, and before the body.
describe('rate limiting', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    // One request a minute after the burst: no refill while the test runs, however slow the machine.
    sandbox = await startSandbox({ transformConfig: withServerSection('  rateLimit:\n    requestsPerMinute: 1\n    burst: 3\n') });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('answers 429 with Retry-After once a client exhausts its burst', async () => {
    const token = await sandbox.github.githubToken({ repository_id: '123456789' });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${sandbox.broker.url}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"keys":["AWS_DEPLOY"]}' });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});

describe('lifecycle', () => {
  it('reloads a valid config on SIGHUP and keeps the old one when the new one is invalid', async () => {
    const sandbox = await startSandbox();
    try {
      const token = await sandbox.github.githubToken({ repository_id: '123456789' });
      const keys = async () => ((await (await fetch(`${sandbox.broker.url}/credentials/keys`, { headers: { authorization: `Bearer ${token}` } })).json()) as { keys: Array<{ name: string }> }).keys.map((k) => k.name).sort();
      expect(await keys()).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AWS_READONLY']);

      writeFileSync(sandbox.broker.configPath, sandbox.config.replace('      ARTIFACTS:', '      ARTIFACTS_RENAMED:'));
      sandbox.broker.child.kill('SIGHUP');
      await waitFor(() => sandbox.broker.output().includes('config reloaded'));
      expect(await keys()).toEqual(['ARTIFACTS_RENAMED', 'AWS_DEPLOY', 'AWS_READONLY']);

      writeFileSync(sandbox.broker.configPath, sandbox.config.replace('  - name: github-actions', '  - nam: github-actions'));
      sandbox.broker.child.kill('SIGHUP');
      await waitFor(() => sandbox.broker.output().includes('config reload refused'));
      expect(sandbox.broker.output()).toMatch(/config\.yaml:\d+:\d+: clientIdps\[0\]\.nam: unknown field/);
      expect(await keys()).toEqual(['ARTIFACTS_RENAMED', 'AWS_DEPLOY', 'AWS_READONLY']);
    } finally {
      await sandbox.close();
    }
  });

  it('finishes in-flight requests on SIGTERM and exits 0', async () => {
    const sandbox = await startSandbox();
    try {
      const token = await sandbox.github.githubToken({ repository_id: '123456789' });
      await fetch(`${sandbox.broker.url}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"keys":["AWS_DEPLOY"]}' });
      sandbox.aws.delayNext(1, 800);
      const inFlight = fetch(`${sandbox.broker.url}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"keys":["AWS_DEPLOY"]}' });
      await waitFor(() => sandbox.aws.calls === 2);
      const exit = sandbox.broker.stop('SIGTERM');
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await exit).toBe(0);
      // Log lines held for the next write are written when the process exits:
      // the in-flight request's access line and audit record, then the last lifecycle line.
      const lines = sandbox.broker.logLines();
      const requestId = response.headers.get('x-request-id');
      expect(lines.filter((line) => line.requestId === requestId && line.msg === 'request')).toHaveLength(1);
      expect(lines.filter((line) => (line.audit as { requestId?: string } | undefined)?.requestId === requestId)).toHaveLength(1);
      expect(lines.at(-1)?.msg).toBe('stopped');
    } finally {
      await sandbox.close();
    }
  });

  it('still stops on SIGTERM when whatever read its standard output has gone', async () => {
    const sandbox = await startSandbox();
    try {
      expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200); // positive control, with its log reader there
      // The log collector dies while the broker is idle: its next write to stdout, the
      // shutdown line, fails with EPIPE (this once left brokers retrying it forever).
      sandbox.broker.child.stdout!.destroy();
      const exited = await Promise.race([sandbox.broker.stop('SIGTERM'), new Promise((done) => setTimeout(() => done('still running after 5 s'), 5_000))]);
      expect(exited).toBe(0);
    } finally {
      sandbox.broker.child.kill('SIGKILL');
      await sandbox.close();
    }
  });

  it('fails closed when the only audit sink is standard output and its reader has gone', async () => {
    const sandbox = await startSandbox({ transformConfig: withServerSection('  audit:\n    stdout: true\n    failClosed: true\n') });
    try {
      expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200); // positive control
      sandbox.broker.child.stdout!.destroy();
      const refused = await mintAsMain(sandbox, ['AWS_DEPLOY']);
      expect(refused).toMatchObject({ status: 503, body: { error: 'audit_unavailable' } });
      expect(JSON.stringify(refused.body)).not.toMatch(/ASIA/);
      const metrics = await (await fetch(`${sandbox.broker.url}/metrics`)).text();
      expect(metrics).toMatch(/voidkey_audit_write_failures_total\{sink="stdout"\} [1-9]/);
      // Not ready any more, so a load balancer sends the traffic elsewhere; alive still.
      const ready = await fetch(`${sandbox.broker.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'not_ready', audit: 'unwritable' });
      expect((await fetch(`${sandbox.broker.url}/healthz`)).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });

  it('fails closed (503, nothing issued) when audit.failClosed is set and no sink can write', async () => {
    const sandbox = await startSandbox({ transformConfig: withServerSection('  audit:\n    stdout: false\n    file: /dev/full\n    failClosed: true\n') });
    try {
      const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await sandbox.github.githubToken({ repository_id: '123456789' })}` },
        body: '{"keys":["AWS_DEPLOY"]}',
      });
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ error: 'audit_unavailable' });
      expect(JSON.stringify(body)).not.toMatch(/ASIA/);
    } finally {
      await sandbox.close();
    }
  });

  it('keeps the stdout audit trail and lifecycle lines at any log level', async () => {
    const sandbox = await startSandbox();
    try {
      const quiet = await startBrokerProcess({ config: sandbox.config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret }, args: ['--log-level', 'warn'] });
      try {
        const response = await fetch(`${quiet.url}/credentials/mint`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await sandbox.github.githubToken({ repository_id: '123456789' })}`, 'x-request-id': 'quiet-broker-0001' },
          body: '{"keys":["AWS_DEPLOY"]}',
        });
        expect(response.status).toBe(200);
        await waitFor(() => quiet.auditEvents().some((event) => event.requestId === 'quiet-broker-0001'));
        expect(quiet.logLines().filter((line) => line.msg === 'request')).toEqual([]); // info-level request logs are filtered
      } finally {
        await quiet.stop();
      }
    } finally {
      await sandbox.close();
    }
  });

  it('refuses to start when the audit file chain is damaged', async () => {
    const damaged = join(dir, 'damaged.jsonl');
    writeFileSync(damaged, '{"seq":0,"prevHash":"0","hash":"x","event":{}}\ngarbage\n');
    const sandbox = await startSandbox();
    try {
      const config = sandbox.config.replace('clientIdps:', `server:\n  audit:\n    file: ${damaged}\nclientIdps:`);
      await expect(startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: sandbox.clientSecret } })).rejects.toThrow(/exited with code 2[\s\S]*refusing to extend a damaged chain/);
    } finally {
      await sandbox.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
