import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { BrokerIdentityConfig } from '../config/types';
import type { SigningKey } from './broker-issuer';

/** The file access key loading needs, injected (the core does no I/O): node's statSync and readFileSync fit. */
export interface KeyFileReader {
  stat(path: string): { isFile(): boolean; mode: number };
  read(path: string): string;
  /** Default process.platform; on win32 the mode bits mean nothing and are not checked. */
  readonly platform?: string;
}

/** A signing key the broker refuses to start with: the message names the file and the fix, never the key. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

export const MIN_RSA_BITS = 2048;

/**
 * Reads and checks `brokerIdentity.signingKeys` (the first signs, all are published): a
 * private key file that is unreadable, readable by group or others, not a private key,
 * RSA under 2048 bits, or EC on a curve other than P-256 stops the broker at start.
 */
export function loadSigningKeys(identity: BrokerIdentityConfig, files: KeyFileReader): SigningKey[] {
  const keys = identity.signingKeys.map((entry, index) => loadSigningKey(entry.file, `brokerIdentity.signingKeys[${index}].file`, files));
  const seen = new Map<string, string>();
  keys.forEach((key, index) => {
    const other = seen.get(key.kid);
    if (other !== undefined) throw new SigningKeyError(`brokerIdentity.signingKeys[${index}].file (${identity.signingKeys[index]!.file}) holds the same key as ${other}: list each key once`);
    seen.set(key.kid, identity.signingKeys[index]!.file);
  });
  return keys;
}

function loadSigningKey(file: string, field: string, files: KeyFileReader): SigningKey {
  let pem: string;
  try {
    const stat = files.stat(file);
    if (!stat.isFile()) throw new SigningKeyError(`${field}: ${file} is not a file`);
    // A private key others can read is a private key others have. (Windows has no such bits.)
    if (files.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new SigningKeyError(`${field}: ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it (Kubernetes: defaultMode: 0400 on the Secret volume)`);
    }
    pem = files.read(file);
  } catch (err) {
    if (err instanceof SigningKeyError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SigningKeyError(`${field}: cannot read ${file} (${code})`);
  }
  return signingKeyFromPem(pem, `${field}: ${file}`);
}

/** A PEM private key, checked (RSA ≥ 2048 → RS256, EC P-256 → ES256), with its public JWK and RFC 7638 kid. */
export function signingKeyFromPem(pem: string, where: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new SigningKeyError(`${where} is not a PEM private key (write one with 'voidkey issuer keygen')`);
  }
  const alg = algorithmOf(privateKey, where);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, string>;
  const kid = thumbprint(jwk);
  const publicJwk = alg === 'RS256'
    ? { kty: 'RSA', n: jwk.n!, e: jwk.e!, kid, alg, use: 'sig' }
    : { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y!, kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

function algorithmOf(key: KeyObject, where: string): 'RS256' | 'ES256' {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new SigningKeyError(`${where} is a ${bits}-bit RSA key: at least ${MIN_RSA_BITS} bits are required`);
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') throw new SigningKeyError(`${where} is an EC key on ${details.namedCurve ?? 'an unknown curve'}: only P-256 (ES256) is accepted`);
    return 'ES256';
  }
  throw new SigningKeyError(`${where} is a${key.asymmetricKeyType === 'ed25519' ? 'n' : ''} ${key.asymmetricKeyType ?? 'unknown'} key: use RSA (2048 bits or more) or EC P-256`);
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) of a public RSA or EC key: the required
 * members in lexicographic order. Computed here synchronously (start-up and SIGHUP reload
 * are synchronous); a test pins it to jose's calculateJwkThumbprint.
 */
export function thumbprint(jwk: Readonly<Record<string, string | undefined>>): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: 'RSA', n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
