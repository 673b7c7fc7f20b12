import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { BrokerIssuer } from './broker-issuer';
import { signingKeyFromPem } from './signing-keys';

const pem = (curve: boolean) =>
  (curve ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const signing = signingKeyFromPem(pem(true), 'current');
const published = signingKeyFromPem(pem(false), 'next');
const now = 1_800_000_000_000;
const issuer = new BrokerIssuer({ issuer: 'https://broker.example.com', signingKeys: [], tokenLifetimeSeconds: 300 }, [signing, published], () => now);
const request = { audience: 'sts.amazonaws.com', keyName: 'AWS_DEPLOY', actor: { iss: 'https://token.actions.githubusercontent.com', sub: 'repo:acme/app:ref:refs/heads/main' } };

describe('BrokerIssuer', () => {
  it('signs with the first key, and the token verifies against the published JWKS with the pinned claims', async () => {
    const { token, jti, kid, expiresAt } = await issuer.sign(request);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: signing.kid, typ: 'JWT' });
    expect(kid).toBe(signing.kid);
    const { payload } = await jwtVerify(token, createLocalJWKSet(issuer.jwks()), { issuer: 'https://broker.example.com', audience: 'sts.amazonaws.com', currentDate: new Date(now) });
    expect(payload).toEqual({ iss: 'https://broker.example.com', sub: 'voidkey:key:AWS_DEPLOY', aud: 'sts.amazonaws.com', iat: now / 1000, nbf: now / 1000, exp: now / 1000 + 300, jti, act: request.actor });
    expect(expiresAt).toBe(now + 300_000);
  });

  it('gives every token its own jti', async () => {
    const jtis = new Set(await Promise.all(Array.from({ length: 20 }, async () => (await issuer.sign(request)).jti)));
    expect(jtis.size).toBe(20);
  });

  it('adds a provider\'s claims but never lets them override a registered one', async () => {
    const { token } = await issuer.sign({ ...request, claims: { 'https://aws.amazon.com/source_identity': 'octocat', sub: 'voidkey:key:OTHER', aud: 'x', iss: 'https://evil', exp: 9_999_999_999, jti: 'fixed', act: { sub: 'someone' } } });
    const { payload } = await jwtVerify(token, createLocalJWKSet(issuer.jwks()), { currentDate: new Date(now) });
    expect(payload).toMatchObject({ 'https://aws.amazon.com/source_identity': 'octocat', sub: 'voidkey:key:AWS_DEPLOY', aud: 'sts.amazonaws.com', iss: 'https://broker.example.com', exp: now / 1000 + 300, act: request.actor });
    expect(payload.jti).not.toBe('fixed');
  });

  it('publishes every key (public parts) and describes itself for discovery', () => {
    expect(issuer.jwks().keys.map((k) => k.kid)).toEqual([signing.kid, published.kid]);
    expect(JSON.stringify(issuer.jwks())).not.toMatch(/"(d|p|q|dp|dq|qi)":/);
    expect(issuer.discovery()).toMatchObject({ issuer: 'https://broker.example.com', jwks_uri: 'https://broker.example.com/.well-known/jwks.json', id_token_signing_alg_values_supported: ['ES256', 'RS256'] });
  });
});
