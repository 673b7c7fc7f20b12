import { DEFAULT_SETTINGS } from '../../broker-core';
import { BrokerTokenVerifier } from '../../broker-core/broker-auth/verify-broker-token';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import { rejectionOf } from '../support/outcomes';

/** Voidkey's brokerIdp.jwksUri / algorithms: the broker's own token verifies against that key set. */
describe('BrokerTokenVerifier', () => {
  let brokerIdp: TokenIssuer;
  let stranger: TokenIssuer;
  const http = new NodeHttpClient();
  const settings = { ...DEFAULT_SETTINGS, allowHttpLoopback: true, upstreamTimeoutMs: 1000 };
  const verifier = (algorithms: string[] = ['RS256'], jwksUri = brokerIdp.jwksUri) => new BrokerTokenVerifier({ jwksUri, issuer: brokerIdp.issuer, algorithms, settings, http, clock: Date.now });

  beforeAll(async () => {
    brokerIdp = await startTokenIssuer({ audience: 'voidkey-broker' });
    stranger = await startTokenIssuer({ audience: 'voidkey-broker' });
  });
  afterAll(async () => {
    await Promise.all([brokerIdp.close(), stranger.close()]);
    http.close();
  });

  it('accepts a token of the key set, verifying each token once (one JWKS fetch for many calls)', async () => {
    const v = verifier();
    const before = brokerIdp.counts.jwks;
    const token = await brokerIdp.sign({ sub: 'voidkey-broker' });
    for (let i = 0; i < 5; i++) await v.verify(token);
    await v.verify(await brokerIdp.sign({ sub: 'voidkey-broker', n: 2 }));
    expect(brokerIdp.counts.jwks - before).toBe(1);
  });

  it.each([
    ['signed by another issuer\'s key (same kid shape)', async () => stranger.sign({ sub: 'voidkey-broker' }, { header: { kid: brokerIdp.activeKey.kid } }), /does not verify against its identity provider's keys/],
    ['signed by a key the set does not publish', async () => stranger.sign({ sub: 'voidkey-broker' }), /no key of the broker's identity provider matches/],
    ['a tampered payload', async () => {
      const [h, , s] = (await brokerIdp.sign({ sub: 'voidkey-broker' })).split('.');
      return `${h}.${Buffer.from(JSON.stringify({ sub: 'voidkey-broker', aud: 'elsewhere' })).toString('base64url')}.${s}`;
    }, /does not verify/],
    ['not a JWT', async () => 'opaque-access-token', /is not a JWT/],
  ])('refuses a broker token %s (502 broker_auth_failed)', async (_name, token, message) => {
    const v = verifier();
    await v.verify(await brokerIdp.sign({ sub: 'voidkey-broker' })); // control on the same verifier
    const err = await rejectionOf(v.verify(await token()));
    expect(err).toMatchObject({ code: 'ERR_BROKER_AUTH_FAILED', message: expect.stringMatching(message) });
  });

  it('refuses an algorithm brokerIdp.algorithms does not list', async () => {
    const token = await brokerIdp.sign({ sub: 'voidkey-broker' });
    await verifier(['RS256']).verify(token); // control
    expect(await rejectionOf(verifier(['ES256']).verify(token))).toMatchObject({ code: 'ERR_BROKER_AUTH_FAILED', message: expect.stringMatching(/algorithm brokerIdp\.algorithms does not allow/) });
  });

  it('is unavailable (503, retry) when the key set cannot be fetched', async () => {
    brokerIdp.failJwks(1, 500);
    const err = await rejectionOf(verifier().verify(await brokerIdp.sign({ sub: 'voidkey-broker' })));
    expect(err).toMatchObject({ code: 'ERR_BROKER_AUTH_UNAVAILABLE', retryAfterSeconds: 5 });
    brokerIdp.clearFaults();
  });
});
