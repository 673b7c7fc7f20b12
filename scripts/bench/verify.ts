import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, jwtVerify, importJWK, type JWK } from 'jose';
import { importPublicJwk, signatureValid } from '../../broker-core/token/jws';
import { ownCpuMs } from './proc';

export interface VerifyCost {
  readonly method: string;
  readonly concurrency: number;
  readonly perSecond: number;
  readonly cpuMicrosPerOp: number;
}

/**
 * One RS256 token verification, the broker's per-request crypto: the broker's own path
 * (broker-core/token/jws.ts: a cached KeyObject and node:crypto's synchronous `verify`)
 * against jose's `jwtVerify` (WebCrypto on the libuv pool) one at a time and 32 at once.
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
  const keyObject = importPublicJwk(jwk)!;

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
    await time('broker: node:crypto (KeyObject)', 1, () => {
      if (!signatureValid(token, 'RS256', keyObject)) throw new Error('signature did not verify');
    }),
  ];
}
