import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync as keyPair } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { loadSigningKeys, SigningKeyError } from './signing-keys';

const files = { stat: statSync, read: (path: string) => readFileSync(path, 'utf8'), platform: 'linux' };
const dir = mkdtempSync(join(tmpdir(), 'voidkey-keys-'));
const pkcs8 = (key: { export(o: object): string | Buffer }) => key.export({ format: 'pem', type: 'pkcs8' }) as string;

function keyFile(name: string, pem: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, pem, { mode });
  chmodSync(path, mode); // the umask may have taken bits off
  return path;
}
const load = (...paths: string[]) => loadSigningKeys({ issuer: 'https://broker.example.com', tokenLifetimeSeconds: 300, signingKeys: paths.map((file) => ({ file })) }, files);

const ec = pkcs8(keyPair('ec', { namedCurve: 'P-256' }).privateKey);
const rsa = pkcs8(keyPair('rsa', { modulusLength: 2048 }).privateKey);

describe('brokerIdentity signing keys', () => {
  it('loads EC P-256 (ES256) and RSA 2048 (RS256), publishing public parts with kid = the RFC 7638 thumbprint (positive control)', async () => {
    const keys = load(keyFile('ec.pem', ec), keyFile('rsa.pem', rsa));
    expect(keys.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    for (const key of keys) {
      expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk));
      expect(key.publicJwk).toMatchObject({ kid: key.kid, alg: key.alg, use: 'sig' });
      expect(key.publicJwk).not.toHaveProperty('d');
    }
  });

  mkdirSync(join(dir, 'a-folder'), { recursive: true });
  const cases: Array<[string, () => string, RegExp]> = [
    ['group-readable (0640)', () => keyFile('group.pem', ec, 0o640), /readable by group or others \(mode 0640\): chmod 600/],
    ['world-readable (0644)', () => keyFile('world.pem', ec, 0o644), /readable by group or others \(mode 0644\)/],
    ['missing', () => join(dir, 'missing.pem'), /cannot read .*missing\.pem \(ENOENT\)/],
    ['a folder', () => join(dir, 'a-folder'), /is not a file/],
    ['not a PEM key', () => keyFile('garbage.pem', 'not a key\n'), /is not a PEM private key/],
    ['a public key', () => keyFile('public.pem', keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string), /is not a PEM private key/],
    ['weak RSA (1024 bits)', () => keyFile('weak.pem', pkcs8(keyPair('rsa', { modulusLength: 1024 }).privateKey)), /1024-bit RSA key: at least 2048 bits/],
    ['EC on P-384', () => keyFile('p384.pem', pkcs8(keyPair('ec', { namedCurve: 'P-384' }).privateKey)), /EC key on secp384r1: only P-256/],
    ['Ed25519', () => keyFile('ed.pem', pkcs8(keyPair('ed25519').privateKey)), /is an ed25519 key: use RSA/],
  ];
  it.each(cases)('refuses a key file that is %s, naming the field and the file', (_name, make, message) => {
    const path = make();
    expect(() => load(keyFile('good.pem', ec), path)).toThrow(SigningKeyError);
    expect(() => load(keyFile('good.pem', ec), path)).toThrow(message);
    expect(() => load(keyFile('good.pem', ec), path)).toThrow(/brokerIdentity\.signingKeys\[1\]\.file/);
  });

  it('refuses the same key listed twice', () => {
    expect(() => load(keyFile('one.pem', ec), keyFile('two.pem', ec))).toThrow(/holds the same key as .*one\.pem/);
  });

  it('never puts key material in a message', () => {
    try {
      load(keyFile('world2.pem', rsa, 0o644));
    } catch (err) {
      expect((err as Error).message).not.toContain('PRIVATE KEY');
    }
    expect.assertions(1);
  });
});
