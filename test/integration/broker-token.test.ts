import { rejectionOf } from '../support/outcomes';
import { exportJWK, exportPKCS8, generateKeyPair, decodeJwt } from 'jose';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerTokenSource, type BrokerIdpConfig } from '../../broker-core';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';

/** The broker's own identity against a real OpenID provider (oidc-provider). */
describe('broker token source', () => {
  const http = new NodeHttpClient();
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-broker-token-'));
  let idp: LocalIdp;
  let keyFile: string;
  let now = Date.now();
  const clock = () => now;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    keyFile = join(dir, 'broker-key.pem');
    writeFileSync(keyFile, await exportPKCS8(privateKey));
    idp = await startLocalIdp({
      clients: [
        { clientId: 'basic', clientSecret: 'secret-basic' },
        { clientId: 'post', clientSecret: 'secret-post', authMethod: 'client_secret_post' },
        { clientId: 'keyed', clientSecret: '', authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' }] } },
      ],
      tokenTtlSeconds: 600,
    });
  });
  afterAll(async () => {
    await idp.close();
    http.close();
  });
  beforeEach(() => {
    now = Date.now();
    idp.clearFaults();
  });

  const source = (overrides: Partial<BrokerIdpConfig>, timeoutMs = 2000) =>
    new BrokerTokenSource({
      idp: { clientId: 'basic', clientSecret: 'secret-basic', tokenEndpoint: idp.tokenEndpoint, audience: 'voidkey-broker', ...overrides },
      http,
      clock,
      timeoutMs,
      readFile: (path) => readFileSync(path, 'utf8'),
    });

  it.each([
    ['client_secret_basic', { clientId: 'basic', clientSecret: 'secret-basic' }],
    ['client_secret_post', { clientId: 'post', clientSecret: 'secret-post', clientAuthMethod: 'client_secret_post' as const }],
  ])('gets a JWT for the requested audience with %s', async (_name, overrides) => {
    const token = await source(overrides).token();
    expect(decodeJwt(token)).toMatchObject({ sub: overrides.clientId, aud: 'voidkey-broker', iss: idp.issuer });
  });

  it('reads the secret from a file on each token request (rotation without restart)', async () => {
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'secret-basic\n');
    const tokens = source({ clientSecret: undefined, clientSecretFile: secretFile });
    await expect(tokens.token()).resolves.toMatch(/^ey/);
    writeFileSync(secretFile, 'rotated-wrong\n');
    const error = await rejectionOf(tokens.token('other-audience'));
    expect(error.reason).toBe('broker_auth_failed');
  });

  it('authenticates with private_key_jwt: no shared secret exists', async () => {
    const token = await source({ clientId: 'keyed', clientSecret: undefined, clientAuthMethod: 'private_key_jwt', privateKeyFile: keyFile, privateKeyAlg: 'ES256' }).token();
    expect(decodeJwt(token)).toMatchObject({ sub: 'keyed', aud: 'voidkey-broker' });
  });

  it('twenty concurrent cold requests cause one token request; the token is cached until near expiry', async () => {
    const tokens = source({});
    const before = idp.counts.token;
    const results = await Promise.all(Array.from({ length: 20 }, () => tokens.token()));
    expect(new Set(results).size).toBe(1);
    expect(idp.counts.token - before).toBe(1);
    now += 500_000; // 600 s token: still more than the 60 s margin left
    await tokens.token();
    expect(idp.counts.token - before).toBe(1);
    now += 60_000;
    await tokens.token();
    expect(idp.counts.token - before).toBe(2);
  });

  it('caches one token per audience', async () => {
    const tokens = source({});
    const before = idp.counts.token;
    const [a, b] = await Promise.all([tokens.token('aud-a'), tokens.token('aud-b')]);
    await tokens.token('aud-a');
    expect(decodeJwt(a).aud).toBe('aud-a');
    expect(decodeJwt(b).aud).toBe('aud-b');
    expect(idp.counts.token - before).toBe(2);
  });

  it('maps a refused client to broker_auth_failed and an unavailable IdP to broker_auth_unavailable', async () => {
    await expect(source({}).token()).resolves.toBeDefined();
    expect((await rejectionOf(source({ clientSecret: 'wrong' }).token())).reason).toBe('broker_auth_failed');
    idp.failNext(1, 503);
    const unavailable = await rejectionOf(source({}).token());
    expect(unavailable.reason).toBe('broker_auth_unavailable');
    expect(unavailable.retryAfterSeconds).toBeGreaterThan(0);
    expect(unavailable.message).not.toContain('secret');
  });

  it('maps a token endpoint that does not answer to broker_auth_timeout (504), one request for a herd', async () => {
    await expect(source({}, 300).token()).resolves.toBeDefined(); // control: the same endpoint, answering
    idp.hangNext(1);
    const tokens = source({}, 300);
    const before = idp.counts.token;
    const herd = await Promise.all(Array.from({ length: 10 }, () => rejectionOf(tokens.token())));
    expect(new Set(herd.map((err) => err.reason))).toEqual(new Set(['broker_auth_timeout']));
    expect(herd[0]!.message).toBe('the broker\'s own identity provider did not answer in time');
    expect(herd[0]!.detail).toBe('token endpoint: no answer within 300 ms');
    expect(idp.counts.token - before).toBe(1);
    await expect(tokens.token()).resolves.toMatch(/^ey/); // the endpoint answers again: a failure is not cached
    expect(idp.counts.token - before).toBe(2);
  });

  it('handles opaque tokens through expires_in', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `opaque-${requests}`, token_type: 'Bearer', expires_in: 120 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const tokens = source({ tokenEndpoint: `http://127.0.0.1:${port}/token` });
      expect(await tokens.token()).toBe('opaque-1');
      now += 50_000;
      expect(await tokens.token()).toBe('opaque-1');
      now += 15_000; // 120 s life, refreshed at half life (60 s) since the margin exceeds it
      expect(await tokens.token()).toBe('opaque-2');
    } finally {
      server.close();
    }
  });
});
