import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { SignJWT, jwtVerify, importJWK, type JWK } from 'jose';
import { ownCpuMs } from './proc';

export interface VerifyCost {
  readonly method: string;
  readonly concurrency: number;
  readonly perSecond: number;
  readonly cpuMicrosPerOp: number;
}

/**
 * One RS256 token verification, the broker's per-request crypto: jose's `jwtVerify` (the
 * broker's verifier; WebCrypto underneath) one at a time and 32 at once, against
 * node:crypto's synchronous `verify` of the same signature (what a KeyObject path costs).
 */
export async function verifyCosts(operations = 4_000): Promise<VerifyCost[]> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const cryptoKey = await importJWK({ ...jwk, alg: 'RS256' }, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub: 'repo:acme/app:ref:refs/heads/main', repository_id: '123456789' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k' })
    .setIssuer('https://issuer.example')
    .setAudience('https://broker.example.com')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
  const options = { issuer: 'https://issuer.example', audience: 'https://broker.example.com', algorithms: ['RS256'] };
  const [header, payload, signature] = token.split('.');
  const signed = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature!, 'base64url');
  const keyObject = createPublicKey({ key: jwk, format: 'jwk' });

  const time = async (method: string, concurrency: number, op: () => unknown): Promise<VerifyCost> => {
    for (let i = 0; i < 300; i++) await op(); // warm-up
    const cpu = ownCpuMs();
    const started = performance.now();
    for (let done = 0; done < operations; done += concurrency) await Promise.all(Array.from({ length: concurrency }, op));
    const elapsed = performance.now() - started;
    return { method, concurrency, perSecond: (operations * 1000) / elapsed, cpuMicrosPerOp: ((ownCpuMs() - cpu) * 1000) / operations };
  };
  return [
    await time('jose jwtVerify (WebCrypto)', 1, () => jwtVerify(token, cryptoKey, options)),
    await time('jose jwtVerify (WebCrypto)', 32, () => jwtVerify(token, cryptoKey, options)),
    await time('node:crypto verify (KeyObject)', 1, () => {
      if (!nodeVerify('sha256', signed, keyObject, sig)) throw new Error('signature did not verify');
    }),
  ];
}
