import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type SigningKeyKind = 'rsa2048' | 'rsa3072' | 'ec-p256';

/** A PKCS#8 PEM private key for `brokerIdentity.signingKeys`. */
export function signingKeyPem(kind: SigningKeyKind = 'ec-p256'): string {
  const pair = kind === 'ec-p256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: kind === 'rsa2048' ? 2048 : 3072 });
  return pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** Writes a new signing key, mode 0600, into a fresh temporary folder (or `dir`); returns its path. */
export function writeSigningKey(options: { kind?: SigningKeyKind; dir?: string; name?: string; pem?: string; mode?: number } = {}): string {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'voidkey-issuer-'));
  const path = join(dir, options.name ?? 'signing.pem');
  writeFileSync(path, options.pem ?? signingKeyPem(options.kind), { mode: options.mode ?? 0o600 });
  return path;
}

/**
 * A free loopback port: the broker's issuer URL must be in its config (and known to the
 * cloud emulators) before it starts listening.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
