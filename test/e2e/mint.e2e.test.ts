import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startBrokerProcess } from '../../sandbox/broker-process';
import { MAIN_SUBJECT, MINIO_ROLE, ROLE_DEPLOY, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/** STS writes expirations to the second. */
const wholeSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();

describe('voidkey mint end to end: real CLI, real server, local IdPs and STS sandboxes', () => {
  let sandbox: Sandbox;
  const handled: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(() => {
    sandbox.aws.reset();
    sandbox.minio.reset();
  });

  async function githubToken(overrides: Record<string, unknown> = {}, options: { iat?: number; expiresIn?: number } = {}): Promise<string> {
    const token = await sandbox.github.githubToken({ repository_id: '123456789', ...overrides }, options);
    handled.push(token);
    return token;
  }

  function cli(args: string[], env: Record<string, string> = {}) {
    return runCli(args, { env: { VOIDKEY_BROKER_URL: sandbox.broker.url, ...env } });
  }

  async function post(body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  }

  it('mints AWS and MinIO credentials with `voidkey mint --format json`', async () => {
    const token = await githubToken();
    const result = await cli(['mint', '--keys', 'AWS_DEPLOY,ARTIFACTS', '--format', 'json'], { VOIDKEY_OIDC_TOKEN: token });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const minted = JSON.parse(result.stdout) as Record<string, { credentials: Record<string, string>; expiresAt: string; metadata: Record<string, unknown> }>;

    const [awsIssued] = sandbox.aws.issued;
    const [minioIssued] = sandbox.minio.issued;
    for (const issued of [awsIssued!, minioIssued!]) handled.push(issued.secretAccessKey, issued.sessionToken);
    expect(minted.AWS_DEPLOY!.credentials).toEqual({
      AWS_ACCESS_KEY_ID: awsIssued!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: awsIssued!.secretAccessKey,
      AWS_SESSION_TOKEN: awsIssued!.sessionToken,
      AWS_CREDENTIAL_EXPIRATION: wholeSeconds(awsIssued!.expiration),
      AWS_REGION: 'us-east-1',
    });
    expect(minted.AWS_DEPLOY!.expiresAt).toBe(wholeSeconds(awsIssued!.expiration));
    expect(minted.AWS_DEPLOY!.metadata).toMatchObject({ provider: 'aws-sandbox', type: 'aws-sts', identity: 'app-main' });
    expect(minted.ARTIFACTS!.credentials).toEqual({
      MINIO_ACCESS_KEY: minioIssued!.accessKeyId,
      MINIO_SECRET_KEY: minioIssued!.secretAccessKey,
      MINIO_SESSION_TOKEN: minioIssued!.sessionToken,
      MINIO_ENDPOINT: sandbox.minio.url,
    });

    // One STS call per key; RoleArn and duration from the config; the broker's own token in the POST body.
    expect(sandbox.aws.calls).toBe(1);
    expect(sandbox.minio.calls).toBe(1);
    const [call] = sandbox.aws.requests;
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe('/');
    expect(call!.action).toBe('AssumeRoleWithWebIdentity');
    expect(call!.params.RoleArn).toBe(ROLE_DEPLOY);
    expect(call!.params.DurationSeconds).toBe('900');
    // Sanitising changed the subject, so 8 hex digits of its SHA-256 keep it distinct.
    expect(call!.params.RoleSessionName).toBe(`repo-acme-app-ref-refs-heads-main-${createHash('sha256').update('repo:acme/app:ref:refs/heads/main').digest('hex').slice(0, 8)}`);
    expect(call!.params.WebIdentityToken).toBeDefined();
    expect(call!.params.WebIdentityToken).not.toBe(token);
    expect(call!.body).toContain('WebIdentityToken=');
    expect(sandbox.minio.requests[0]!.params.RoleArn).toBe(MINIO_ROLE);
  });

  it('prints export lines that survive eval with `--format env`', async () => {
    const result = await cli(['mint', '--keys', 'AWS_DEPLOY', '--format', 'env'], { VOIDKEY_OIDC_TOKEN: await githubToken() });
    expect(result.code).toBe(0);
    const issued = sandbox.aws.issued[0]!;
    handled.push(issued.secretAccessKey, issued.sessionToken);
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-env-'));
    writeFileSync(join(dir, 'creds.sh'), result.stdout);
    const echoed = execFileSync('bash', ['-c', `eval "$(cat ${dir}/creds.sh)"; printf '%s|%s' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"`], { encoding: 'utf8' });
    expect(echoed).toBe(`${issued.accessKeyId}|${issued.secretAccessKey}`);
  });

  it('caches the JWKS and the broker token across requests', async () => {
    const jwks = sandbox.github.counts.jwks;
    const tokens = sandbox.brokerIdp.counts.token;
    const token = await githubToken();
    const results = await Promise.all(Array.from({ length: 10 }, () => post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${token}` })));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(sandbox.github.counts.jwks - jwks).toBe(0);
    expect(sandbox.brokerIdp.counts.token - tokens).toBe(0);
    expect(sandbox.aws.calls).toBe(10);
  });

  it('serves Voidkey clients unchanged: token in the body, idpName, all, duration; the flat map back', async () => {
    const token = await githubToken();
    const keyed = await post({ oidcToken: token, idpName: 'github-actions', keys: ['AWS_DEPLOY'], duration: 1800 });
    expect(keyed.status).toBe(200);
    const entry = keyed.body.AWS_DEPLOY as { credentials: Record<string, string>; expiresAt: string };
    expect(Object.keys(entry.credentials)).toEqual(expect.arrayContaining(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']));
    expect(Date.parse(entry.expiresAt)).toBeGreaterThan(Date.now());
    const all = await post({ oidcToken: token, all: true });
    expect(Object.keys(all.body).sort()).toEqual(['ARTIFACTS', 'AWS_DEPLOY', 'AWS_READONLY']);
    for (const issued of [...sandbox.aws.issued, ...sandbox.minio.issued]) handled.push(issued.secretAccessKey, issued.sessionToken);
  });

  it('lists the IdPs and answers health', async () => {
    const idps = await (await fetch(`${sandbox.broker.url}/credentials/idp-providers`)).json();
    expect(idps).toEqual([{ name: 'github-actions', isDefault: true }]);
    const health = await fetch(`${sandbox.broker.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
  });

  describe('bad input gets a specific status and error code', () => {
    it('a missing token: 401 token_missing, CLI exit 3', async () => {
      const response = await post({ keys: ['AWS_DEPLOY'] });
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ error: 'token_missing', code: 'ERR_TOKEN_MISSING' });
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      const result = await cli(['mint', '--keys', 'AWS_DEPLOY']);
      expect(result.code).toBe(3);
    });

    it('a malformed token: 401 token_malformed', async () => {
      const response = await post({ keys: ['AWS_DEPLOY'] }, { authorization: 'Bearer not.a-jwt' });
      expect(response.status).toBe(401);
      expect(response.body.error).toBe('token_malformed');
    });

    it('an expired token: 401 token_expired, CLI exit 3, no STS call', async () => {
      const fresh = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${await githubToken()}` });
      expect(fresh.status).toBe(200);
      sandbox.aws.reset();
      const expired = await githubToken({}, { iat: Math.floor(Date.now() / 1000) - 600, expiresIn: 300 });
      const response = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${expired}` });
      expect(response.status).toBe(401);
      expect(response.body.error).toBe('token_expired');
      const result = await cli(['mint', '--keys', 'AWS_DEPLOY'], { VOIDKEY_OIDC_TOKEN: expired });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('token_expired');
      expect(sandbox.aws.calls).toBe(0);
    });

    it('an unknown key: 403 key_not_permitted, CLI exit 4, nothing minted', async () => {
      const token = await githubToken();
      const response = await post({ keys: ['AWS_DEPLOY', 'PROD_ADMIN'] }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({ error: 'key_not_permitted' });
      expect(sandbox.aws.calls).toBe(0);
      const result = await cli(['mint', '--keys', 'PROD_ADMIN'], { VOIDKEY_OIDC_TOKEN: token });
      expect(result.code).toBe(4);
      expect(result.stderr).toContain('key_not_permitted');
    });

    it('a key that exists only for another identity is not permitted', async () => {
      const feature = await githubToken({ sub: 'repo:acme/app:ref:refs/heads/feature' });
      expect((await post({ keys: ['AWS_READONLY'] }, { authorization: `Bearer ${feature}` })).status).toBe(200);
      const response = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${feature}` });
      expect(response.status).toBe(403);
      expect(response.body.error).toBe('key_not_permitted');
    });

    it('an unknown subject: 403 no_identity_matched, revealing nothing about identities', async () => {
      const token = await githubToken({ sub: 'repo:evil/app:ref:refs/heads/main' });
      const response = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(403);
      expect(response.body.error).toBe('no_identity_matched');
      expect(JSON.stringify(response.body)).not.toMatch(/acme|refs\/heads\/\*|app-main/);
    });

    it('a duration outside the key bounds: 400 duration_invalid before any STS call', async () => {
      const token = await githubToken();
      expect((await post({ keys: ['AWS_DEPLOY'], duration: 3600 }, { authorization: `Bearer ${token}` })).status).toBe(200);
      sandbox.aws.reset();
      const response = await post({ keys: ['AWS_DEPLOY'], duration: 7200 }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('duration_invalid');
      expect(sandbox.aws.calls).toBe(0);
    });

    it('a token both in the body and the header: 400', async () => {
      const token = await githubToken();
      const response = await post({ keys: ['AWS_DEPLOY'], oidcToken: token }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('request_invalid');
      expect((await post({ keys: ['AWS_DEPLOY'], oidcToken: token })).status).toBe(200);
    });

    it('an STS refusal: 502 provider_rejected, CLI exit 5, no credentials for any key', async () => {
      const token = await githubToken();
      sandbox.aws.failNext(1, { code: 'AccessDenied', message: 'canary-upstream-body Not authorized to perform sts:AssumeRoleWithWebIdentity' });
      const response = await post({ keys: ['AWS_DEPLOY', 'ARTIFACTS'] }, { authorization: `Bearer ${token}` });
      expect(response.status).toBe(502);
      expect(response.body).toMatchObject({ error: 'mint_failed', keys: { AWS_DEPLOY: { error: 'provider_rejected' } } });
      expect(JSON.stringify(response.body)).not.toContain('canary-upstream-body');
      expect(JSON.stringify(response.body)).not.toMatch(/ASIA|SecretAccessKey|arn:aws/);
      sandbox.aws.failNext(1, { code: 'AccessDenied' });
      const result = await cli(['mint', '--keys', 'AWS_DEPLOY'], { VOIDKEY_OIDC_TOKEN: token });
      expect(result.code).toBe(5);
      expect(result.stdout).toBe('');
    });

    it('STS unavailable: 503 with Retry-After; garbage: 502 provider_bad_response', async () => {
      const token = await githubToken();
      sandbox.aws.failNext(3, { code: 'ServiceUnavailable', status: 503 });
      const unavailable = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${token}` });
      expect(unavailable.status).toBe(503);
      expect(unavailable.body.error).toBe('provider_unavailable');
      expect(unavailable.headers.get('retry-after')).toMatch(/^\d+$/);
      sandbox.aws.respondNext(1, { status: 200, body: '<html>not sts</html>', contentType: 'text/html' });
      const garbage = await post({ keys: ['AWS_DEPLOY'] }, { authorization: `Bearer ${token}` });
      expect(garbage.status).toBe(502);
      expect(garbage.body.error).toBe('provider_bad_response');
    });
  });

  it('refuses to start on an invalid config, naming file, line and column', async () => {
    const broken = sandbox.config.replace('    roleArn: arn:aws:iam::111122223333:role/deploy', '    roleArn: arn:aws:iam::111122223333:role/deploy\n        rolArn: typo');
    await expect(startBrokerProcess({ config: broken, env: { BROKER_CLIENT_SECRET: 'x' }, startTimeoutMs: 10_000 })).rejects.toThrow(
      /exited with code 2[\s\S]*config\.yaml:\d+:\d+: clientIdentities\[0\]\.keys\.AWS_DEPLOY\.rolArn: unknown field/,
    );
  });

  it('never prints a token, a credential or the client secret (log canary scan)', () => {
    const output = sandbox.broker.output();
    expect(handled.length).toBeGreaterThan(5);
    for (const secret of [...handled, sandbox.clientSecret]) expect(output).not.toContain(secret);
    for (const issued of [...sandbox.aws.issued, ...sandbox.minio.issued]) {
      expect(output).not.toContain(issued.secretAccessKey);
      expect(output).not.toContain(issued.sessionToken);
    }
    const audits = sandbox.broker.auditEvents();
    expect(audits.some((event) => event.outcome === 'allowed' && event.subject === MAIN_SUBJECT)).toBe(true);
    expect(audits.some((event) => event.outcome === 'denied' && event.reason === 'token_expired')).toBe(true);
  });
});
