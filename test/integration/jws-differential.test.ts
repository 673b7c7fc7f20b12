/**
 * The broker verifies token signatures with node:crypto and checks claims itself
 * (broker-core/token/jws.ts, token-verifier.ts). This suite holds both to jose — the
 * library the broker verified with before — on the same tokens and the same keys: every
 * algorithm the broker accepts, valid tokens beside tampered ones, and a seeded corpus of
 * claim sets with every claim missing, mistyped, early or late. Any disagreement fails.
 */
import { constants, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { CompactSign, exportJWK, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { DEFAULT_SETTINGS, TokenVerifier, type ClientIdpConfig } from '../../broker-core';
import { importPublicJwk, keyFitsAlgorithm, signatureValid, SIGNATURE_ALGORITHMS } from '../../broker-core/token/jws';
import { NodeHttpClient } from '../../broker-server/node-http-client';
import { listenOnLoopback, type LoopbackServer } from '../../sandbox/loopback-server';
import { outcomeOf } from '../support/outcomes';

interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

const KEY_SPECS: ReadonlyArray<{ algs: string[]; generate: () => { privateKey: KeyObject; publicKey: KeyObject } }> = [
  { algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], generate: () => generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  { algs: ['ES256'], generate: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
  { algs: ['ES384'], generate: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }) },
  { algs: ['ES512'], generate: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }) },
  { algs: ['EdDSA', 'Ed25519'], generate: () => generateKeyPairSync('ed25519') },
];

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flips one bit of a base64url segment's decoded bytes and re-encodes it. */
function flipBit(segment: string, bit: number): string {
  const bytes = Buffer.from(segment, 'base64url');
  bytes[Math.floor(bit / 8) % bytes.length]! ^= 1 << bit % 8;
  return bytes.toString('base64url');
}

describe('node:crypto signature verification agrees with jose', () => {
  const keys: SigningKey[] = [];
  const strangers = new Map<string, KeyObject>();

  beforeAll(async () => {
    for (const spec of KEY_SPECS) {
      const pair = spec.generate();
      const stranger = spec.generate();
      const jwk = await exportJWK(pair.publicKey);
      for (const alg of spec.algs) {
        keys.push({ alg, kid: `k-${alg}`, privateKey: pair.privateKey, jwk: { ...jwk, kid: `k-${alg}` } });
        strangers.set(alg, stranger.privateKey);
      }
    }
  });

  const sign = (key: SigningKey, payload: string, privateKey = key.privateKey) =>
    new CompactSign(Buffer.from(payload)).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(privateKey);

  /** Whether jose accepts the signature of `token` (header alg `headerAlg`) with `jwk` imported for `keyAlg`. */
  const jose = async (token: string, jwk: JWK, keyAlg: string, headerAlg = keyAlg) => {
    try {
      await jwtVerify(token, await importJWK(jwk, keyAlg), { algorithms: [headerAlg] });
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Claims are not the question here; only whether the signature was accepted.
      return code !== undefined && code.startsWith('ERR_JWT_') && code !== 'ERR_JWT_INVALID';
    }
  };

  it('covers every algorithm the broker accepts', () => {
    expect(new Set(keys.map((key) => key.alg))).toEqual(new Set(SIGNATURE_ALGORITHMS));
  });

  it('accepts what jose accepts and refuses what jose refuses, over tampered signatures', async () => {
    const random = prng(20261202);
    let accepted = 0;
    let cases = 0;
    for (const key of keys) {
      const publicKey = importPublicJwk(key.jwk)!;
      const payload = JSON.stringify({ sub: 'repo:acme/app:ref:refs/heads/main', n: key.alg });
      const token = await sign(key, payload);
      const [head, body, signature] = token.split('.') as [string, string, string];
      const variants = [
        token, // positive control
        `${head}.${body}.${flipBit(signature, Math.floor(random() * 512))}`,
        `${head}.${body}.${flipBit(signature, 0)}`,
        `${head}.${flipBit(body, Math.floor(random() * 64))}.${signature}`,
        `${head}.${body}.${signature.slice(0, -4)}`,
        `${head}.${body}.`,
        `${head}.${body}.${(await sign(key, payload, strangers.get(key.alg))).split('.')[2]}`,
        `${head}.${body}.${(await sign(key, '{"sub":"other"}')).split('.')[2]}`,
      ];
      for (const variant of variants) {
        const ours = signatureValid(variant, key.alg, publicKey);
        expect({ alg: key.alg, variant, ours }).toEqual({ alg: key.alg, variant, ours: await jose(variant, key.jwk, key.alg) });
        if (ours) accepted++;
        cases++;
      }
    }
    // Exactly the positive controls verify.
    expect(accepted).toBe(keys.length);
    expect(cases).toBe(keys.length * 8);
  });

  it('refuses a signature checked under another algorithm or with a key of another kind', async () => {
    for (const key of keys) {
      const token = await sign(key, '{"sub":"x"}');
      for (const other of keys) {
        if (other.alg === key.alg) continue;
        const sameKey = other.privateKey === key.privateKey;
        const ours = signatureValid(token, other.alg, importPublicJwk(other.jwk)!);
        const theirs = await jose(token, other.jwk, other.alg, key.alg).catch(() => false);
        // RS256 and PS256 share a key but not a signature scheme; EdDSA and Ed25519 are one scheme.
        const expected = sameKey && ['EdDSA', 'Ed25519'].includes(key.alg) && ['EdDSA', 'Ed25519'].includes(other.alg);
        expect({ signedWith: key.alg, checkedAs: other.alg, ours, theirs }).toEqual({ signedWith: key.alg, checkedAs: other.alg, ours: expected, theirs: expected });
      }
    }
  });

  it('refuses short RSA keys and keys that do not fit the algorithm, as jose does', async () => {
    const short = await exportJWK(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    expect(importPublicJwk(short)).toBeUndefined();
    await expect(importJWK(short, 'RS256').then((key) => jwtVerify('eyJhbGciOiJSUzI1NiJ9.e30.AA', key))).rejects.toThrow(/2048/);
    const p256 = importPublicJwk(keys.find((key) => key.alg === 'ES256')!.jwk)!;
    expect(keyFitsAlgorithm(p256, 'ES256')).toBe(true); // positive control
    expect(keyFitsAlgorithm(p256, 'ES384')).toBe(false);
    expect(keyFitsAlgorithm(p256, 'RS256')).toBe(false);
    expect(keyFitsAlgorithm(p256, 'HS256')).toBe(false);
    expect(importPublicJwk({ kty: 'RSA', n: '!!', e: 'AQAB' })).toBeUndefined();
    expect(importPublicJwk({ kty: 'oct', k: 'c2VjcmV0' })).toBeUndefined();
    const privateJwk = await exportJWK(keys[0]!.privateKey);
    expect(importPublicJwk(privateJwk)).toBeUndefined(); // a published private key is not trusted
    const publicPart = Object.fromEntries(Object.entries(privateJwk).filter(([name]) => ['kty', 'n', 'e'].includes(name)));
    expect(importPublicJwk(publicPart)).toBeDefined();
    // e = 1 would make any 'signature' verify (jose would import it).
    expect(importPublicJwk({ ...publicPart, e: 'AQ' })).toBeUndefined();
    expect(importPublicJwk({ ...publicPart, e: 'Ag' })).toBeUndefined();
  });

  it('refuses a PSS signature whose leading zero byte was dropped, which jose accepts', async () => {
    const key = keys.find((k) => k.alg === 'PS256')!;
    const publicKey = importPublicJwk(key.jwk)!;
    const head = Buffer.from(JSON.stringify({ alg: 'PS256', kid: key.kid })).toString('base64url');
    // About one PSS signature in 256 starts with a zero byte; sign until one does.
    for (let i = 0; i < 5_000; i++) {
      const input = `${head}.${Buffer.from(JSON.stringify({ sub: 'x', n: i })).toString('base64url')}`;
      const signature = cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      if (signature[0] !== 0) continue;
      const token = `${input}.${signature.toString('base64url')}`;
      const shortened = `${input}.${signature.subarray(1).toString('base64url')}`;
      expect(signatureValid(token, 'PS256', publicKey)).toBe(true); // positive control
      expect(await jose(shortened, key.jwk, 'PS256')).toBe(true);
      expect(signatureValid(shortened, 'PS256', publicKey)).toBe(false);
      return;
    }
    throw new Error('no PSS signature with a leading zero byte in 5,000');
  });

  it('refuses a signature that is not canonical base64url, where jose decodes it leniently', async () => {
    const key = keys.find((k) => k.alg === 'ES256')!;
    const token = await sign(key, '{"sub":"x"}');
    const [head, body, signature] = token.split('.') as [string, string, string];
    // 64 bytes → 86 characters; the last one carries 2 unused bits. Setting one gives
    // another text for the same bytes: jose (atob) still verifies it, the broker does not.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = signature.slice(0, -1) + last[last.indexOf(signature.at(-1)!) ^ 1]!;
    expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    const publicKey = importPublicJwk(key.jwk)!;
    expect(signatureValid(token, 'ES256', publicKey)).toBe(true);
    expect(await jose(`${head}.${body}.${twin}`, key.jwk, 'ES256')).toBe(true);
    expect(signatureValid(`${head}.${body}.${twin}`, 'ES256', publicKey)).toBe(false);
    expect(signatureValid(`${head}.${body}.${signature}=`, 'ES256', publicKey)).toBe(false);
    expect(signatureValid(`${head}.${body}.${signature.slice(0, 10)} ${signature.slice(10)}`, 'ES256', publicKey)).toBe(false);
  });
});

describe('TokenVerifier claim checks agree with jose jwtVerify', () => {
  const ISSUER = 'https://token.actions.githubusercontent.com';
  const AUDIENCE = 'https://broker.example.com';
  const NOW = 1_800_000_000;
  const SKEW = DEFAULT_SETTINGS.clockSkewSeconds;
  const MAX_LIFETIME = 3600;
  let server: LoopbackServer;
  const http = new NodeHttpClient();
  let key: SigningKey;

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    key = { alg: 'RS256', kid: 'main', privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'main' } };
    server = await listenOnLoopback((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [key.jwk] }));
    });
  });
  afterAll(async () => {
    http.close();
    await server.close();
  });

  const idp = (audience: ClientIdpConfig['audience'], allowAnyAudience = false): ClientIdpConfig => ({
    name: 'gh',
    issuer: ISSUER,
    audience,
    allowAnyAudience,
    jwksUri: `${server.url}/jwks`,
    algorithms: ['RS256'],
    maxTokenLifetimeSeconds: MAX_LIFETIME,
  });

  /**
   * What the broker answered before it verified with node:crypto: jose's jwtVerify, its
   * errors mapped to the broker's reasons, then the broker's own subject, `iat` and
   * lifetime rules. `iat` is required (every OIDC ID token and CI token carries it).
   */
  async function reference(token: string, config: ClientIdpConfig): Promise<string> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await importJWK(key.jwk, 'RS256'), {
        issuer: ISSUER,
        audience: config.allowAnyAudience ? undefined : config.audience,
        algorithms: ['RS256'],
        clockTolerance: SKEW,
        // jose checks presence in reverse: iss, aud, sub, exp, iat, the broker's order.
        requiredClaims: ['iat', 'exp', 'sub'],
        currentDate: new Date(NOW * 1000),
      }));
    } catch (err) {
      const { code, claim, reason } = err as { code?: string; claim?: string; reason?: string };
      if (code === 'ERR_JWT_EXPIRED') return 'token_expired';
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
        if (claim === 'aud') return 'audience_mismatch';
        if (reason === 'invalid' || reason === 'missing') return 'token_claim_invalid';
        if (claim === 'nbf') return 'token_not_yet_valid';
        return 'token_claim_invalid';
      }
      return `jose:${code}`;
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) return 'token_claim_invalid';
    if (payload.iat! > NOW + SKEW) return 'token_not_yet_valid';
    if (payload.exp! - payload.iat! > MAX_LIFETIME + SKEW) return 'token_claim_invalid';
    return 'ok';
  }

  const signClaims = (claims: Record<string, unknown>) =>
    new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader({ alg: 'RS256', kid: 'main' }).sign(key.privateKey);

  const VALUES: Record<string, ReadonlyArray<unknown>> = {
    sub: [undefined, 'repo:acme/app:ref:refs/heads/main', '', 'x'.repeat(255), 'x'.repeat(256), 42, null, ['a']],
    aud: [undefined, AUDIENCE, 'https://other.example.com', [AUDIENCE], ['https://other.example.com'], ['x', AUDIENCE], [], 7, null],
    exp: [undefined, NOW + 300, NOW, NOW - SKEW, NOW - SKEW + 1, NOW - SKEW - 1, NOW + MAX_LIFETIME + SKEW + 10, `${NOW + 300}`, null, NOW + 300.5],
    nbf: [undefined, NOW - 10, NOW + SKEW, NOW + SKEW + 1, 'soon', null],
    iat: [undefined, NOW - 10, NOW + SKEW, NOW + SKEW + 1, NOW - MAX_LIFETIME, 'then', false],
  };

  function claimSet(random: () => number): Record<string, unknown> {
    const claims: Record<string, unknown> = { iss: ISSUER, jti: String(random()) };
    for (const [name, values] of Object.entries(VALUES)) {
      // Mostly well-formed, so that the later checks are reached too.
      const value = random() < 0.5 ? values[1] : values[Math.floor(random() * values.length)];
      if (value !== undefined) claims[name] = value;
    }
    return claims;
  }

  it.each([
    ['one audience', AUDIENCE, false],
    ['a list of audiences', ['https://another.example.com', AUDIENCE], false],
    ['any audience', undefined, true],
  ] as const)('gives jose\'s answer on 400 seeded claim sets (%s)', async (_name, audience, anyAudience) => {
    const config = idp(audience as ClientIdpConfig['audience'], anyAudience);
    const verifier = new TokenVerifier([config], { ...DEFAULT_SETTINGS, allowHttpLoopback: true }, { http, clock: () => NOW * 1000 });
    const random = prng(400 + (anyAudience ? 1 : 0) + (Array.isArray(audience) ? 2 : 0));
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const claims = claimSet(random);
      const token = await signClaims(claims);
      const ours = await outcomeOf(verifier.verify(token));
      expect({ claims, ours }).toEqual({ claims, ours: await reference(token, config) });
      outcomes.set(ours, (outcomes.get(ours) ?? 0) + 1);
    }
    // The corpus reaches acceptance and every claim failure, not only one of them.
    expect(outcomes.get('ok')).toBeGreaterThan(20);
    for (const reason of ['token_expired', 'token_not_yet_valid', 'token_claim_invalid', ...(anyAudience ? [] : ['audience_mismatch'])]) {
      expect({ reason, seen: (outcomes.get(reason) ?? 0) > 0 }).toEqual({ reason, seen: true });
    }
  });
});
