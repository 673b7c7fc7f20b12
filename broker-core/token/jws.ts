import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

/**
 * Signature verification of compact JWS with `node:crypto`, synchronously on the calling
 * thread. jose 6 verifies through WebCrypto, whose every call is a job on libuv's thread
 * pool: ≈ 90 µs of CPU plus two thread hand-offs per token against ≈ 30 µs here, and the
 * pool competes with the event loop for the machine's cores. The algorithm rules follow
 * RFC 7518 §3 and jose's own checks (key type per algorithm, RSA ≥ 2048 bits, PSS salt =
 * hash length); test/integration/jws-differential.test.ts holds this code to jose's
 * answers on the same tokens.
 */

/** RFC 7518 §3.3 and §3.5: RSA keys of at least 2048 bits. */
export const MIN_RSA_BITS = 2048;

interface AlgorithmRule {
  /** The digest `crypto.verify` takes; null for EdDSA. */
  readonly hash: string | null;
  readonly keyType: 'rsa' | 'ec' | 'ed25519';
  readonly curve?: string;
  readonly pss?: number;
  /** ECDSA signatures are R || S (IEEE P1363), fixed length. */
  readonly signatureBytes?: number;
}

const RULES: Readonly<Record<string, AlgorithmRule>> = {
  RS256: { hash: 'sha256', keyType: 'rsa' },
  RS384: { hash: 'sha384', keyType: 'rsa' },
  RS512: { hash: 'sha512', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', pss: 32 },
  PS384: { hash: 'sha384', keyType: 'rsa', pss: 48 },
  PS512: { hash: 'sha512', keyType: 'rsa', pss: 64 },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1', signatureBytes: 64 },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1', signatureBytes: 96 },
  ES512: { hash: 'sha512', keyType: 'ec', curve: 'secp521r1', signatureBytes: 132 },
  EdDSA: { hash: null, keyType: 'ed25519' },
  Ed25519: { hash: null, keyType: 'ed25519' },
};

/** The asymmetric signature algorithms this broker can verify. */
export const SIGNATURE_ALGORITHMS: readonly string[] = Object.keys(RULES);

/**
 * A public key from a JWK, or undefined when the JWK is not a well-formed public key: bad
 * base64url, an unknown curve, a private part (`d`: a key published by mistake is not
 * trusted), an RSA modulus under 2048 bits or a degenerate RSA exponent (e = 1 makes any
 * "signature" verify).
 */
export function importPublicJwk(jwk: JWK): KeyObject | undefined {
  if (jwk.d !== undefined) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
  if (key.type !== 'public') return undefined;
  if (key.asymmetricKeyType === 'rsa') {
    const details = key.asymmetricKeyDetails;
    if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) return undefined;
    const exponent = details?.publicExponent ?? 0n;
    if (exponent < 3n || exponent % 2n === 0n) return undefined;
  }
  return key;
}

interface KeyFacts {
  readonly type: string;
  readonly keyType?: string;
  readonly curve?: string;
  readonly modulusLength?: number;
}

/** What the checks read of a key, read once per key: each KeyObject getter is a native call that builds a new object. */
const keyFacts = new WeakMap<KeyObject, KeyFacts>();

function factsOf(key: KeyObject): KeyFacts {
  let facts = keyFacts.get(key);
  if (facts === undefined) {
    const details = key.asymmetricKeyDetails;
    facts = { type: key.type, keyType: key.asymmetricKeyType, curve: details?.namedCurve, modulusLength: details?.modulusLength };
    keyFacts.set(key, facts);
  }
  return facts;
}

/** Whether `key` may verify `alg` at all: the key type, curve and size the algorithm demands. */
export function keyFitsAlgorithm(key: KeyObject, alg: string): boolean {
  const rule = RULES[alg];
  if (!rule) return false;
  const facts = factsOf(key);
  if (facts.type !== 'public' || facts.keyType !== rule.keyType) return false;
  if (rule.curve !== undefined && facts.curve !== rule.curve) return false;
  if (rule.keyType === 'rsa' && (facts.modulusLength ?? 0) < MIN_RSA_BITS) return false;
  return true;
}

/**
 * Verifies the signature of a compact JWS (`header.payload.signature`) with `alg` and
 * `key`. False for any mismatch: a key that does not fit the algorithm, a signature that
 * is not canonical base64url or has the wrong length, or one that does not verify.
 * (ECDSA stays malleable, as in every JOSE library: (r, n − s) verifies as (r, s) does.
 * Nothing in the broker treats a token's text as unique; audit events carry its hash.)
 */
export function signatureValid(token: string, alg: string, key: KeyObject): boolean {
  const rule = RULES[alg];
  if (!rule || !keyFitsAlgorithm(key, alg)) return false;
  const dot = token.lastIndexOf('.');
  const signature = decodeBase64url(token.slice(dot + 1));
  if (signature === undefined || signature.length === 0) return false;
  if (rule.signatureBytes !== undefined && signature.length !== rule.signatureBytes) return false;
  // RSA signatures are exactly as long as the modulus (RFC 8017 §8.1.2, §8.2.2); OpenSSL's
  // PSS check would also take one whose leading zero byte was dropped.
  if (rule.keyType === 'rsa' && signature.length * 8 !== factsOf(key).modulusLength) return false;
  const data = Buffer.from(token.slice(0, dot), 'utf8');
  try {
    if (rule.pss !== undefined) {
      return verify(rule.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: rule.pss }, signature);
    }
    if (rule.signatureBytes !== undefined) return verify(rule.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    return verify(rule.hash, data, key, signature);
  } catch {
    return false;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64url (RFC 7515 §2: no padding, no whitespace, no other alphabet): the
 * bytes, or undefined. Only the canonical spelling is accepted, so the same bytes have
 * exactly one text (Buffer's own decoder skips what it does not understand).
 */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
