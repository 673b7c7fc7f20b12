import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { createLambdaHandler } from '../../broker-server/lambda';
import { createLogger } from '../../broker-server/logger';
import { runCli, startBrokerProcess } from '../../sandbox/broker-process';
import { httpApiEvent, restApiEvent } from '../support/api-gateway-events';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { writeSigningKey } from '../../sandbox/broker-issuer-keys';
import { AWS_SELF_AUDIENCE, BROKER_AUDIENCE } from '../../sandbox/sandbox-config';
import { createTokenChecker } from '../../sandbox/sts-token-check';
import { MAIN_SUBJECT, mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(90_000);

interface Jwks {
  keys: Array<JWK & { kid: string }>;
}

/** The broker as its own issuer (docs/issuer.md): per-mint tokens the STS emulators verify through discovery on the broker. */
describe('brokerIdentity: the broker as its own OIDC issuer', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ brokerToken: 'self' });
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(() => {
    sandbox.aws.reset();
    sandbox.minio.reset();
  });

  const jwksOf = async (): Promise<Jwks> => (await (await fetch(`${sandbox.broker.url}/.well-known/jwks.json`)).json()) as Jwks;

  it('publishes a cacheable discovery document and a JWKS of public keys whose kid is the RFC 7638 thumbprint', async () => {
    const discovery = await fetch(`${sandbox.broker.url}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(discovery.headers.get('cache-control')).toBe('public, max-age=300');
    expect(discovery.headers.get('pragma')).toBeNull();
    const document = (await discovery.json()) as Record<string, unknown>;
    expect(document).toMatchObject({ issuer: sandbox.self!.issuer, jwks_uri: `${sandbox.self!.issuer}/.well-known/jwks.json`, id_token_signing_alg_values_supported: ['ES256'] });

    const jwks = await fetch(`${sandbox.broker.url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    expect(jwks.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
    const { keys } = (await jwks.json()) as Jwks;
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(keys[0]!.kid).toBe(await calculateJwkThumbprint(keys[0]!));
    // The credential routes keep no-store.
    expect((await fetch(`${sandbox.broker.url}/health`)).headers.get('cache-control')).toBe('no-store');
  });

  it('mints AWS (web identity) and MinIO with one per-mint token each, verified by the emulators through discovery; the jti is audited', async () => {
    const answer = await mintAsMain(sandbox, ['AWS_DEPLOY', 'ARTIFACTS']);
    expect(answer.status).toBe(200);
    const awsCall = sandbox.aws.requests.find((r) => r.action === 'AssumeRoleWithWebIdentity')!;
    const minioCall = sandbox.minio.requests.find((r) => r.action === 'AssumeRoleWithWebIdentity')!;
    const awsToken = awsCall.params.WebIdentityToken!;
    const minioToken = minioCall.params.WebIdentityToken!;
    const awsClaims = decodeJwt(awsToken);
    expect(awsClaims).toMatchObject({
      iss: sandbox.self!.issuer,
      aud: AWS_SELF_AUDIENCE,
      sub: 'voidkey:key:AWS_DEPLOY',
      act: { iss: sandbox.github.issuer, sub: MAIN_SUBJECT },
      'https://aws.amazon.com/source_identity': 'octocat',
      'https://aws.amazon.com/tags': { principal_tags: { repository: ['acme/app'], workflow: ['deploy'] } },
    });
    expect(awsClaims.exp! - awsClaims.iat!).toBe(300);
    expect(awsClaims.nbf).toBe(awsClaims.iat);
    const header = decodeProtectedHeader(awsToken);
    expect(header).toEqual({ alg: 'ES256', kid: (await jwksOf()).keys[0]!.kid, typ: 'JWT' });
    expect(decodeJwt(minioToken)).toMatchObject({ iss: sandbox.self!.issuer, aud: BROKER_AUDIENCE, sub: 'voidkey:key:ARTIFACTS' });
    expect(decodeJwt(minioToken).jti).not.toBe(awsClaims.jti);

    // The AWS session carries the caller's attribution, read from the verified token.
    expect(sandbox.aws.issued[0]).toMatchObject({ sourceIdentity: 'octocat', tags: { repository: 'acme/app', workflow: 'deploy' }, subject: 'voidkey:key:AWS_DEPLOY' });

    const event = sandbox.broker.auditEvents().find((e) => e.requestId === answer.requestId)!;
    const issued = event.issued as Array<{ key: string; brokerTokenJti?: string }>;
    expect(issued.find((c) => c.key === 'AWS_DEPLOY')!.brokerTokenJti).toBe(awsClaims.jti);
    expect(issued.find((c) => c.key === 'ARTIFACTS')!.brokerTokenJti).toBe(decodeJwt(minioToken).jti);
    expect(JSON.stringify(event)).not.toContain(awsToken);

    // A second mint gets a new token (per mint, never cached).
    const again = await mintAsMain(sandbox, ['AWS_DEPLOY']);
    expect(again.status).toBe(200);
    const second = sandbox.aws.requests.filter((r) => r.action === 'AssumeRoleWithWebIdentity')[1]!;
    expect(decodeJwt(second.params.WebIdentityToken!).jti).not.toBe(awsClaims.jti);
  });

  it("refuses (403 claim_value_invalid) a caller whose claims give the source identity a value AWS refuses, before signing or calling STS (positive control: 'octocat' above)", async () => {
    const token = await sandbox.github.githubToken({ repository_id: '123456789', actor: 'aws:admin' });
    const response = await fetch(`${sandbox.broker.url}/credentials/mint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ keys: ['AWS_DEPLOY'] }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'claim_value_invalid' });
    expect(sandbox.aws.calls).toBe(0);
  });

  it('an STS that trusts another issuer refuses the token (the positive control is the mint above)', async () => {
    const answer = await mintAsMain(sandbox, ['AWS_DEPLOY']);
    expect(answer.status).toBe(200);
    const token = sandbox.aws.requests[0]!.params.WebIdentityToken!;
    expect((await createTokenChecker({ issuer: sandbox.self!.issuer, audience: AWS_SELF_AUDIENCE })(token)).ok).toBe(true);
    expect(await createTokenChecker({ issuer: 'https://other.example.com', audience: AWS_SELF_AUDIENCE })(token)).toMatchObject({ ok: false, failure: 'unknown_issuer' });
    expect(await createTokenChecker({ issuer: sandbox.self!.issuer, audience: 'another-client' })(token)).toMatchObject({ ok: false, failure: 'audience' });
  });

  it('rotates: publish a new key, promote it, retire the old one; an old token verifies while its key is published, not after', async () => {
    const [oldKey] = sandbox.self!.keyFiles;
    const newKey = writeSigningKey({ dir: dirname(oldKey!), name: 'next.pem', kind: 'rsa2048' });
    const withKeys = (files: string[]) => sandbox.config.replace(/signingKeys:\n(?: {4}- file: .*\n)+/, `signingKeys:\n${files.map((f) => `    - file: ${f}\n`).join('')}`);
    // A fresh verifier per check, as a cloud whose cached key set expired: nothing is handed a key.
    const verify = (token: string) => createTokenChecker({ issuer: sandbox.self!.issuer, audience: AWS_SELF_AUDIENCE })(token);
    const reload = async (files: string[]) => {
      writeFileSync(sandbox.broker.configPath, withKeys(files));
      const before = sandbox.broker.logLines().filter((l) => l.msg === 'config reloaded').length;
      sandbox.broker.child.kill('SIGHUP');
      for (let i = 0; i < 500 && sandbox.broker.logLines().filter((l) => l.msg === 'config reloaded').length === before; i += 1) {
        expect(sandbox.broker.logLines().some((l) => String(l.msg).startsWith('config reload refused'))).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return jwksOf();
    };
    const mintedToken = async () => {
      sandbox.aws.reset();
      expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200);
      return sandbox.aws.requests[0]!.params.WebIdentityToken!;
    };

    const before = await mintedToken();
    const oldKid = decodeProtectedHeader(before).kid;

    // 1. Publish: both keys in the JWKS, the old one still signs.
    const published = await reload([oldKey!, newKey]);
    expect(published.keys.map((k) => k.kid)).toHaveLength(2);
    expect(decodeProtectedHeader(await mintedToken()).kid).toBe(oldKid);

    // 2. Promote: the new key signs; the old token still verifies while its key is published.
    await reload([newKey, oldKey!]);
    const after = await mintedToken();
    const newKid = decodeProtectedHeader(after).kid;
    expect(newKid).not.toBe(oldKid);
    expect(decodeProtectedHeader(after).alg).toBe('RS256');
    expect((await verify(before)).ok).toBe(true);

    // 3. Retire: the old key leaves the JWKS; the old token no longer verifies, the new one does.
    const retired = await reload([newKey]);
    expect(retired.keys.map((k) => k.kid)).toEqual([newKid]);
    expect((await verify(after)).ok).toBe(true);
    expect(await verify(before)).toMatchObject({ ok: false, failure: 'key_not_found' });
    expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200);

    // A reload onto a key others can read is refused; the running keys stay in force.
    const open = writeSigningKey({ dir: dirname(oldKey!), name: 'open.pem', mode: 0o644 });
    writeFileSync(sandbox.broker.configPath, withKeys([open, newKey]));
    const refusals = () => sandbox.broker.logLines().filter((l) => String(l.msg).startsWith('config reload refused'));
    sandbox.broker.child.kill('SIGHUP');
    for (let i = 0; i < 500 && refusals().length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(JSON.stringify(refusals()[0]!.issues)).toMatch(/signingKeys\[0\]\.file: .*open\.pem is readable by group or others/);
    expect((await jwksOf()).keys.map((k) => k.kid)).toEqual([newKid]);
    writeFileSync(sandbox.broker.configPath, withKeys([newKey]));
  });

  it('stops at start with exit code 2 and a clear message when a signing key is world-readable or weak (positive control: this sandbox started)', async () => {
    expect((await fetch(`${sandbox.broker.url}/health`)).status).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-refused-'));
    const cases: Array<[string, RegExp]> = [
      [writeSigningKey({ dir, name: 'world.pem', mode: 0o644 }), /cannot start: brokerIdentity\.signingKeys\[0\]\.file: .*world\.pem is readable by group or others \(mode 0644\)/],
      [writeSigningKey({ dir, name: 'weak.pem', pem: (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }), /1024-bit RSA key: at least 2048 bits are required/],
    ];
    for (const [file, message] of cases) {
      const config = sandbox.config.replace(sandbox.self!.keyFiles[0]!, file);
      const started = startBrokerProcess({ config });
      await expect(started).rejects.toThrow(/exited with code 2 before listening/);
      await expect(started).rejects.toThrow(message);
      await expect(started).rejects.not.toThrow(/PRIVATE KEY|\n\s+at /);
    }
  });

  it('an http issuer on loopback needs settings.allowHttpLoopback (positive control: this sandbox has it)', async () => {
    const started = startBrokerProcess({ config: sandbox.config.replace('allowHttpLoopback: true', 'allowHttpLoopback: false') });
    await expect(started).rejects.toThrow(/brokerIdentity\.issuer: plain http needs settings\.allowHttpLoopback: true/);
  });

  it('voidkey issuer keygen writes a 0600 key the broker accepts, never overwrites, and jwks prints what the broker serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voidkey-keygen-'));
    const out = join(dir, 'next.pem');
    const made = await runCli(['issuer', 'keygen', '--type', 'rsa3072', '--out', out]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(made.stdout).not.toContain('PRIVATE KEY');
    const again = await runCli(['issuer', 'keygen', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/cannot write .*next\.pem \(EEXIST\): keygen never overwrites a file/);

    const printed = await runCli(['issuer', 'jwks', '--config', sandbox.broker.configPath]);
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout)).toEqual(await jwksOf());
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, sandbox.config.replace(sandbox.self!.keyFiles[0]!, out));
    const withNew = await runCli(['issuer', 'jwks', '--config', configFile]);
    expect(JSON.parse(withNew.stdout).keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: made.stdout.trim().split('kid ')[1] });
    writeFileSync(configFile, sandbox.config.replace(sandbox.self!.keyFiles[0]!, writeSigningKey({ dir, name: 'open.pem', mode: 0o644 })));
    const refused = await runCli(['issuer', 'jwks', '--config', configFile]);
    expect([refused.code, refused.stdout]).toEqual([7, '']);
    expect(refused.stderr).toMatch(/readable by group or others/);
    const notSelf = await runCli(['issuer', 'trust', '--config', sandbox.broker.configPath, '--key', 'NO_SUCH_KEY']);
    expect([notSelf.code, notSelf.stderr]).toEqual([7, "voidkey: invalid: no identity grants a key named 'NO_SUCH_KEY'\n"]);
  });

  it('the Lambda handler serves discovery and the JWKS (REST and HTTP API events), cacheable, so an API Gateway URL can be the issuer', async () => {
    const handler = createLambdaHandler({
      source: { name: 'sandbox.yaml', read: () => sandbox.config },
      env: {},
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const jwks = (await handler(httpApiEvent({ method: 'GET', path: '/.well-known/jwks.json' }))) as APIGatewayProxyResult;
      expect(jwks.statusCode).toBe(200);
      expect(jwks.headers!['cache-control']).toBe('public, max-age=300');
      // The sandbox's first config (the running broker has rotated since).
      const served = JSON.parse(jwks.body) as Jwks;
      expect(served.keys).toHaveLength(1);
      expect(served.keys[0]!.kid).toBe(await calculateJwkThumbprint(served.keys[0]!));
      const discovery = (await handler(restApiEvent({ method: 'GET', path: '/.well-known/openid-configuration' }))) as APIGatewayProxyResult;
      expect(discovery.statusCode).toBe(200);
      expect(JSON.parse(discovery.body)).toMatchObject({ issuer: sandbox.self!.issuer, jwks_uri: `${sandbox.self!.issuer}/.well-known/jwks.json` });
      const wrongMethod = (await handler(restApiEvent({ method: 'POST', path: '/.well-known/jwks.json' }))) as APIGatewayProxyResult;
      expect(wrongMethod.statusCode).toBe(405);
    } finally {
      await handler.close();
    }
  });
});
